"""Settings are validated where they are set, with a ValidationError naming the setting
(issue 10, item 8): never an OverflowError from a thread or a ValueError at send time."""

from __future__ import annotations

import math
import threading

import pytest

import analytics_sdk
from analytics_sdk import Client, ValidationError
from analytics_sdk import settings

BAD_SECONDS = [math.inf, -math.inf, math.nan, -1, "5", None, True, threading.TIMEOUT_MAX * 2, 1e300]


@pytest.mark.parametrize("value", BAD_SECONDS)
@pytest.mark.parametrize("name", ["timeout", "queue_full_timeout", "upload_interval", "max_total_backoff_duration"])
def test_bad_durations_are_refused_at_construction(name, value):
    with pytest.raises(ValidationError) as info:
        Client("key", send=False, **{name: value})
    assert name in str(info.value)


@pytest.mark.parametrize("value", [v for v in BAD_SECONDS if v is not None])
@pytest.mark.parametrize("name", ["flush_timeout", "exit_timeout", "max_rate_limit_duration"])
def test_bad_optional_durations_are_refused_at_construction(name, value):
    with pytest.raises(ValidationError) as info:
        Client("key", send=False, **{name: value})
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["flush_timeout", "exit_timeout", "max_rate_limit_duration"])
def test_optional_durations_may_be_none(name):
    Client("key", send=False, **{name: None}).shutdown(timeout=1)


def test_http_timeout_must_be_positive():
    # timeout=0 makes every socket non-blocking: every request would fail.
    with pytest.raises(ValidationError, match="timeout must be greater than 0"):
        Client("key", send=False, timeout=0)


@pytest.mark.parametrize(
    "host, words",
    [
        ("http://", "no host name"),
        ("https://:8080", "no host name"),
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:0", "port"),
        ("http://127.0.0.1:abc", "port"),
        ("ftp://example.com", "http:// or https://"),
        ("example.com", "http:// or https://"),
        ("http://example.com?x=1", "query"),
        ("http://example.com/#frag", "fragment"),
        ("http://exa mple.com", "whitespace"),
        ("http://example.com\n", "whitespace"),
        (42, "http:// or https://"),
    ],
)
def test_bad_hosts_are_refused_at_construction(host, words):
    with pytest.raises(ValidationError) as info:
        Client("key", send=False, host=host)
    assert "host" in str(info.value) and words in str(info.value)


@pytest.mark.parametrize(
    "host",
    ["https://api.segment.io", "http://127.0.0.1:8080", "https://[::1]:8443", "http://localhost/prefix/", None],
)
def test_good_hosts_are_kept(host):
    client = Client("key", send=False, host=host)
    assert client.host == host
    client.shutdown(timeout=1)


@pytest.mark.parametrize("value", [None, "", 5, "key\ud800", b"key"])
def test_bad_write_keys_are_refused(value):
    with pytest.raises(ValidationError, match="write_key"):
        Client(value, send=False)


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, "1", threading.TIMEOUT_MAX * 2])
@pytest.mark.parametrize("method", ["flush", "shutdown", "join"])
def test_bad_lifecycle_timeouts_are_refused(method, value):
    client = Client("key", send=False)
    try:
        with pytest.raises(ValidationError, match="timeout"):
            getattr(client, method)(value)
    finally:
        client.shutdown(timeout=1)


def test_good_lifecycle_timeouts_still_work(make_client):
    client = make_client()
    client.track("u", "E")
    assert client.flush(0.0) in (True, False)
    assert client.flush(30)
    assert client.shutdown(30)


def test_module_flush_with_infinite_timeout_is_a_validation_error(module_settings):
    module_settings.track("u", "E")
    with pytest.raises(ValidationError, match="timeout"):
        module_settings.flush(math.inf)
    assert module_settings.flush(5)


# -- the pure validators ---------------------------------------------------------------


def test_seconds_accepts_ints_and_floats_and_returns_them():
    assert settings.check_seconds("t", 0) == 0
    assert settings.check_seconds("t", 2.5) == 2.5
    assert settings.check_seconds("t", threading.TIMEOUT_MAX) == threading.TIMEOUT_MAX


def test_positive_int_names_the_setting():
    with pytest.raises(ValidationError, match="upload_size must be a positive integer, got 0"):
        settings.check_positive_int("upload_size", 0)
    with pytest.raises(ValidationError, match="thread"):
        settings.check_positive_int("thread", True)


def test_non_negative_int():
    assert settings.check_non_negative_int("max_retries", 0) == 0
    with pytest.raises(ValidationError, match="max_retries"):
        settings.check_non_negative_int("max_retries", -1)


def test_module_settings_use_the_same_validation(module_settings):
    module_settings.timeout = math.inf
    with pytest.raises(ValidationError, match="timeout"):
        module_settings.track("u", "E")
    module_settings.timeout = 15
    assert module_settings.track("u", "E")[0]
    assert analytics_sdk.default_client is not None


# -- one list of settings (issue 23) -------------------------------------------------------

import inspect  # noqa: E402
import warnings  # noqa: E402


def test_client_takes_exactly_the_declared_settings_in_order_with_their_defaults():
    parameters = list(inspect.signature(Client.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [s.name for s in settings.SETTINGS]
    for parameter, setting in zip(parameters, settings.SETTINGS):
        assert parameter.default == setting.default, setting.name
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if setting.positional else inspect.Parameter.KEYWORD_ONLY
        assert parameter.kind is kind, setting.name
        assert setting.doc.strip(), setting.name


def test_every_setting_is_a_module_setting_with_its_default():
    for setting in settings.SETTINGS:
        assert setting.name in analytics_sdk.__all__
    fresh = {name: getattr(analytics_sdk, name) for name in settings.DEFAULTS if name != "destinations"}
    assert fresh == {name: value for name, value in settings.DEFAULTS.items() if name != "destinations"}


def test_a_module_level_backoff_budget_reaches_the_default_client(module_settings):
    module_settings.max_total_backoff_duration = 2
    module_settings.max_rate_limit_duration = 7
    client = module_settings.default_client or module_settings._client()
    assert client.max_total_backoff_duration == 2 and client.max_rate_limit_duration == 7
    assert client._consumer.retry_policy.max_elapsed == 2


def test_a_misspelt_module_setting_warns_and_names_the_setting():
    with pytest.warns(RuntimeWarning, match=r"upload_sise is not a setting.*'upload_size'"):
        analytics_sdk.upload_sise = 5
    del analytics_sdk.upload_sise


def test_a_submodule_import_and_private_names_do_not_warn():
    import types

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # What the import machinery does when it first loads a submodule (a module
        # imported already would not reach __setattr__ again).
        analytics_sdk.probe_submodule = types.ModuleType("analytics_sdk.probe_submodule")
        analytics_sdk._private_probe = 1
    del analytics_sdk.probe_submodule, analytics_sdk._private_probe


@pytest.mark.parametrize("name", ["send", "sync_mode", "gzip", "debug", "opt_out", "spool_sync", "handle_sigterm"])
def test_a_flag_given_as_text_is_refused(name):
    # send="false" is truthy: it would send everything the user meant to keep local.
    with pytest.raises(ValidationError, match=name):
        Client("key", **{name: "false"})


def test_the_module_declares_every_setting_for_type_checkers():
    declared = [name for name in analytics_sdk.__annotations__ if name in settings.DEFAULTS or not name.startswith("_")]
    assert [name for name in declared if name != "default_client"] == [s.name for s in settings.SETTINGS]


def test_no_setting_shares_its_name_with_a_module_of_the_package():
    # analytics_sdk.destinations = [...] once replaced the subpackage of that name: an
    # `import analytics_sdk.destinations as d` then gave the list.
    import pkgutil

    modules = {info.name for info in pkgutil.iter_modules(analytics_sdk.__path__)}
    assert "wire" in modules and not modules & set(settings.DEFAULTS)


def test_setting_destinations_leaves_the_wire_formats_importable(module_settings):
    module_settings.destinations = [analytics_sdk.Segment("module-key", host=module_settings.host)]
    import analytics_sdk.wire as wire

    assert wire.Segment is analytics_sdk.Segment
    assert module_settings.track("u", "Wired")[0]
