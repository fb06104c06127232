"""Module-level API: parity with Client, the lazily created default client, settings."""

from __future__ import annotations

import inspect
import logging
import typing
import warnings

import pytest

import analytics_sdk
from analytics_sdk import Client

CALLS = ("identify", "track", "page", "screen", "group", "alias")


@pytest.mark.parametrize("name", CALLS)
def test_module_functions_have_the_clients_signature(name):
    function, method = getattr(analytics_sdk, name), getattr(Client, name)
    module_params = [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]
    client_params = [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()][1:]
    assert module_params == client_params
    assert typing.get_type_hints(function) == typing.get_type_hints(method)
    assert function.__doc__


def test_positional_order_matches_segment():
    expected = {
        "track": ["user_id", "event", "properties", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
        "identify": ["user_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
        "page": ["user_id", "category", "name", "properties", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
        "screen": ["user_id", "category", "name", "properties", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
        "group": ["user_id", "group_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
        "alias": ["previous_id", "user_id", "context", "timestamp", "integrations", "message_id"],
    }
    for name, params in expected.items():
        for function in (getattr(analytics_sdk, name), getattr(analytics_sdk.Client, name)):
            parameters = inspect.signature(function).parameters.values()
            positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
            assert positional == params
            # Additions are keyword-only, so Segment's positional calls keep their meaning.
            assert [p.name for p in parameters if p.kind is p.KEYWORD_ONLY] == ["callback"]


def test_segment_defaults():
    assert (analytics_sdk.max_queue_size, analytics_sdk.timeout, analytics_sdk.max_retries) == (10000, 15, 10)
    assert (analytics_sdk.upload_size, analytics_sdk.upload_interval, analytics_sdk.thread) == (100, 0.5, 1)
    assert (analytics_sdk.send, analytics_sdk.sync_mode, analytics_sdk.gzip, analytics_sdk.debug) == (True, False, False, False)
    for name in analytics_sdk.__all__:
        assert hasattr(analytics_sdk, name), name


def test_default_client_is_lazy_and_built_from_settings(module_settings, collector):
    assert analytics_sdk.default_client is None
    analytics_sdk.gzip = True
    ok, msg = analytics_sdk.track("u", "E", {"x": 1})
    assert ok
    client = analytics_sdk.default_client
    assert isinstance(client, Client) and client.gzip and client.host == collector.url
    assert analytics_sdk.flush(timeout=5)
    assert [e["messageId"] for e in collector.events()] == [msg["messageId"]]
    analytics_sdk.identify("u")
    assert analytics_sdk.default_client is client  # created once


def test_setting_default_client_to_none_builds_a_fresh_one(module_settings):
    analytics_sdk.track("u", "E")
    first = analytics_sdk.default_client
    analytics_sdk.default_client = None
    analytics_sdk.track("u", "E")
    assert analytics_sdk.default_client is not first
    first.shutdown(timeout=1)


def test_changing_a_setting_after_creation_warns(module_settings):
    analytics_sdk.track("u", "E")
    with pytest.warns(RuntimeWarning, match="analytics_sdk.gzip"):
        analytics_sdk.gzip = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analytics_sdk.gzip = analytics_sdk.default_client.gzip  # same value: no warning


def test_shutdown_then_track_uses_a_new_client(module_settings, collector):
    analytics_sdk.track("u", "first")
    assert analytics_sdk.shutdown(timeout=5)
    assert analytics_sdk.default_client is None
    assert analytics_sdk.track("u", "second")[0]
    assert analytics_sdk.flush(timeout=5)
    assert sorted(e["event"] for e in collector.events()) == ["first", "second"]


def test_client_refuses_after_shutdown_and_reports(make_client):
    errors = []
    client = make_client(on_error=lambda e, m: errors.append(e.reason))
    assert client.shutdown(timeout=30)
    ok, _ = client.track("u", "late")
    assert not ok and errors == ["client_closed"]
    assert client.stats()["dropped"] == {"client_closed": 1}


def test_module_stats(module_settings):
    analytics_sdk.track("u", "E")
    analytics_sdk.flush(timeout=5)
    stats = analytics_sdk.stats()
    assert stats["enqueued"] == 1 and stats["delivered"] == 1 and stats["queue_depth"] == 0


def test_debug_adds_one_handler_however_many_clients(collector):
    logger = logging.getLogger("analytics_sdk")
    before = list(logger.handlers)
    level = logger.level
    try:
        clients = [Client("k", host=collector.url, debug=True) for _ in range(3)]
        added = [h for h in logger.handlers if h not in before]
        assert len(added) <= 1 and logger.level == logging.DEBUG
        assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
        for client in clients:
            client.shutdown(timeout=1)
    finally:
        logger.setLevel(level)


def test_rudderstack_data_plane_url_is_an_alias_for_host(module_settings, collector):
    analytics_sdk.host = None
    analytics_sdk.dataPlaneUrl = collector.url
    assert analytics_sdk.host == collector.url == analytics_sdk.data_plane_url
    analytics_sdk.track("u", "Via Rudder Names")
    assert analytics_sdk.flush(timeout=5)
    assert [e["event"] for e in collector.events()] == ["Via Rudder Names"]
    with pytest.raises(AttributeError):
        analytics_sdk.no_such_setting
