"""analytics_sdk.testing and the pytest fixture, as users would use them."""

from __future__ import annotations

from datetime import date

import pytest

import analytics_sdk
from analytics_sdk.testing import CapturingClient, capture

pytest_plugins = ["pytester"]


def test_capturing_client_records_what_would_be_sent():
    client = CapturingClient()
    client.track("u1", "Order Completed", {"total": 42, "placed": date(2024, 1, 2), "items": [1, 2]})
    client.identify("u1", {"email": "ada@example.com", "plan": "pro"})
    assert [m["type"] for m in client.messages] == ["track", "identify"]
    sent = client.assert_tracked("Order Completed", user_id="u1", properties={"total": 42})
    assert sent["properties"]["placed"] == "2024-01-02"  # converted exactly as on the wire
    assert sent["context"]["library"]["name"] == "analytics-sdk-python"
    client.assert_identified("u1", traits={"plan": "pro"})
    client.assert_not_tracked("Refunded")
    client.reset()
    assert client.messages == []


def test_assertion_messages_say_what_was_captured():
    client = CapturingClient()
    client.track("u1", "Viewed")
    with pytest.raises(AssertionError, match=r"track 'Bought'.*captured: \['track Viewed user=u1'\]"):
        client.assert_tracked("Bought")
    with pytest.raises(AssertionError, match="properties containing"):
        client.assert_tracked("Viewed", properties={"x": 1})
    with pytest.raises(AssertionError, match="2 times, expected 1"):
        client.track("u1", "Viewed")
        client.assert_tracked("Viewed", times=1)
    with pytest.raises(AssertionError, match="expected none"):
        client.assert_not_tracked("Viewed")


def test_bad_calls_still_raise_like_production():
    with pytest.raises(analytics_sdk.ValidationError, match="event"):
        CapturingClient().track("u1")


def test_capture_swaps_and_restores_the_default_client():
    before = analytics_sdk.default_client
    with capture() as events:
        analytics_sdk.track("u9", "Captured", {"nested": {"a": 1, "b": 2}})
        assert analytics_sdk.default_client is events
    assert analytics_sdk.default_client is before
    events.assert_tracked("Captured", user_id="u9", properties={"nested": {"a": 1}})


def test_pytest_fixture_through_pytester(pytester):
    pytester.makepyfile(
        """
        import analytics_sdk

        def checkout(user):
            analytics_sdk.track(user, "Order Completed", {"total": 42, "currency": "EUR"})

        def test_checkout_is_tracked(analytics_events):
            checkout("u1")
            analytics_events.assert_tracked("Order Completed", user_id="u1", properties={"total": 42})

        def test_each_test_starts_empty(analytics_events):
            assert analytics_events.messages == []

        def test_a_wrong_expectation_fails(analytics_events):
            checkout("u1")
            analytics_events.assert_tracked("Order Completed", properties={"total": 41})

        def test_without_the_fixture_nothing_is_swapped():
            assert analytics_sdk.default_client is None
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*properties containing {'total': 41}*"])


def test_documented_import_paths_keep_working():
    import importlib
    import subprocess
    import sys

    for name in ("analytics_sdk.pytest_plugin", "analytics_sdk.testing", "analytics_sdk.devserver"):
        importlib.import_module(name)
    from analytics_sdk.pytest_plugin import analytics_events
    from analytics_sdk.devtools.pytest_plugin import analytics_events as implementation

    assert analytics_events is implementation
    help_text = subprocess.run([sys.executable, "-m", "analytics_sdk.devserver", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--port" in help_text.stdout
