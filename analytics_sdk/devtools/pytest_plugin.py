"""pytest plugin (registered through the ``pytest11`` entry point).

It only adds a fixture, used by asking for it by name::

    def test_checkout(analytics_events):
        checkout(order)                       # calls analytics_sdk.track(...)
        analytics_events.assert_tracked("Order Completed", user_id="u1", properties={"total": 42})

For the duration of the test the module-level API records into an in-memory
:class:`analytics_sdk.testing.CapturingClient`; the previous default client is
restored afterwards. Tests that do not ask for the fixture are untouched.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .testing import CapturingClient, capture


@pytest.fixture
def analytics_events() -> Iterator[CapturingClient]:
    """Capture analytics_sdk messages sent during this test (no network)."""
    with capture() as client:
        yield client
