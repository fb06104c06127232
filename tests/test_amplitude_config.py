"""Issue 22, section 1: configuration made after ``Amplitude(...)`` was created takes
effect, as with amplitude-analytics (which reads its Config when it uses it).

The yardstick is the reference package itself: the same code runs through both
SDKs against loopback servers, and the requests must agree (paths, the headers
that matter, bodies apart from what each SDK fills in: insert_id, time, library),
as must the callback codes. Nothing may leave 127.0.0.1: name lookups of any
other host fail in these tests (``loopback_only``), so code that would go to
Amplitude's servers fails at once.
"""

from __future__ import annotations

import importlib
import json
import logging
import socket
import time
from typing import Any, Callable, Dict, List, Tuple
from unittest import mock

import pytest

import analytics_sdk.amplitude as ours

from .amplitude_sink import Sink
from .waiting import wait_until

theirs = pytest.importorskip("amplitude")

FILLED_BY_SDK = ("insert_id", "time", "library")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", b"127.0.0.1"):
            raise socket.gaierror(socket.EAI_NONAME, f"test: no traffic to {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def flush(sdk: Any, client: Any, timeout: float = 10.0) -> None:
    """``flush()`` as each SDK offers it: ours bounded (code that ignores the Config
    would wait out its retry budget), theirs by waiting on its futures."""
    if sdk is ours:
        client.flush(timeout=timeout)
        return
    for future in client.flush() or []:
        if future is not None:
            future.result(timeout)


def shutdown(sdk: Any, client: Any) -> None:
    if sdk is ours:
        client.shutdown(timeout=5)
    else:
        client.shutdown()


def flush_until(sdk: Any, client: Any, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Flush until ``done()``: amplitude-analytics resends the events a 400 did not name
    on a later pass of its worker."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        flush(sdk, client, max(0.1, deadline - time.monotonic()))
        wait_until(done, 0.2)


def wire(sink: Sink) -> List[Tuple[str, str, Any, Any, List[str]]]:
    """Each request as (path, content type, api_key, options as JSON, events without the fields the SDK fills)."""
    requests = []
    with sink.lock:
        recorded = list(sink.requests)
    for path, headers, raw in recorded:
        body = json.loads(raw)
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "").split(";")[0].strip()
        events = [json.dumps({k: v for k, v in e.items() if k not in FILLED_BY_SDK}, sort_keys=True)
                  for e in body.get("events", [])]
        options = body.get("options")
        requests.append((path, content_type, body.get("api_key"), json.dumps(options) if options else None, events))
    return requests


def events_of(requests: List[Tuple[str, str, Any, Any, List[str]]]) -> List[str]:
    """The distinct events sent (a request refused for one event is resent: batching
    decides how many times an event travels, and it is not the same in both SDKs)."""
    return sorted({e for request in requests for e in request[4]})


def ingested(sink: Sink) -> List[str]:
    """The events the server accepted (each once, if nothing was sent twice)."""
    with sink.lock:
        events = list(sink.ingested)
    return sorted(json.dumps({k: v for k, v in e.items() if k not in FILLED_BY_SDK}, sort_keys=True) for e in events)


# -- the docs' block, verbatim ---------------------------------------------------------


def configure_as_the_docs_show(sdk: Any, storage: Any, proxy_url: str, callback_func: Callable[..., Any],
                               logger: logging.Logger) -> Any:
    # Amplitude's docs configure the client after constructing it (the block issue 22
    # quotes, with every documented Config attribute); the proxy is the loopback sink.
    client = sdk.Amplitude('API_KEY')
    client.configuration.api_key = "new api key"
    client.configuration.server_zone = "EU"
    client.configuration.use_batch = True
    client.configuration.server_url = proxy_url
    client.configuration.min_id_length = 7
    client.configuration.callback = callback_func
    client.configuration.flush_queue_size = 100
    client.configuration.flush_interval_millis = 20000
    client.configuration.flush_max_retries = 3
    client.configuration.logger = logger
    client.configuration.opt_out = False
    client.configuration.plan = sdk.Plan(branch="main", source="backend", version="1.0.0")
    client.configuration.ingestion_metadata = sdk.IngestionMetadata(source_name="etl", source_version="2.1")
    client.configuration.storage_provider = storage.InMemoryStorageProvider()
    return client


def storage_of(sdk: Any) -> Any:
    """Where the SDK's storage providers are (``amplitude.storage``; the package itself if it has none)."""
    try:
        return importlib.import_module(sdk.__name__ + ".storage")
    except ImportError:
        return sdk


def docs_scenario(sdk: Any, storage: Any, sink: Sink) -> List[Tuple[str, int]]:
    codes: List[Tuple[str, int]] = []

    def callback_func(event: Any, code: int, message: Any = None) -> None:
        codes.append((event.event_type, code))

    proxy_url = sink.url.replace("/2/httpapi", "/batch")
    client = configure_as_the_docs_show(sdk, storage, proxy_url, callback_func, logging.getLogger("docs-block"))
    client.track(sdk.BaseEvent("Song Played", user_id="user-0001", device_id="device-0001",
                               event_properties={"title": "Blue", "n": 3}))
    client.identify(sdk.Identify().set("plan", "pro"), sdk.EventOptions(user_id="user-0001"))
    client.track(sdk.BaseEvent("Short Id", user_id="user01"))  # 6 characters: min_id_length 7 refuses it
    for i in range(150):  # more than flush_queue_size
        client.track(sdk.BaseEvent("Bulk", user_id="user-0002", event_properties={"i": i}))
    flush_until(sdk, client, lambda: len(codes) >= 153)
    shutdown(sdk, client)
    return sorted(codes)


def test_the_docs_configuration_block_sends_what_amplitude_analytics_sends():
    with Sink() as their_sink, Sink() as our_sink:
        their_codes = docs_scenario(theirs, storage_of(theirs), their_sink)
        our_codes = docs_scenario(ours, storage_of(ours), our_sink)
    theirs_wire, ours_wire = wire(their_sink), wire(our_sink)
    assert {r[:4] for r in ours_wire} == {r[:4] for r in theirs_wire} == {
        ("/batch", "application/json", "new api key", '{"min_id_length": 7}')}
    assert events_of(ours_wire) == events_of(theirs_wire)
    assert ingested(our_sink) == ingested(their_sink) and len(ingested(our_sink)) == 152
    sent = [json.loads(e) for e in events_of(ours_wire)]
    assert all(e["plan"] == {"branch": "main", "source": "backend", "version": "1.0.0"} for e in sent)
    assert all(e["ingestion_metadata"] == {"source_name": "etl", "source_version": "2.1"} for e in sent)
    assert our_codes == their_codes
    assert ("Short Id", 400) in our_codes and our_codes.count(("Bulk", 200)) == 150


@pytest.mark.parametrize("zone, use_batch", [("US", False), ("US", True), ("EU", False), ("EU", True)])
def test_server_zone_and_use_batch_assigned_after_construction_choose_the_endpoint(zone, use_batch):
    urls: Dict[str, List[str]] = {}
    for name, sdk in (("theirs", theirs), ("ours", ours)):
        http = importlib.import_module(sdk.__name__ + ".http_client")
        posted: List[str] = []

        def post(url: str, payload: bytes, header: Any = None, _posted: List[str] = posted, _http: Any = http) -> Any:
            _posted.append(url)
            return _http.Response(_http.HttpStatus.SUCCESS)

        with mock.patch.object(http.HttpClient, "post", post):  # no request leaves the process
            client = sdk.Amplitude("key")
            client.configuration.server_zone = zone
            client.configuration.use_batch = use_batch
            client.track(sdk.BaseEvent("E", user_id="user-0001"))
            flush(sdk, client)
            shutdown(sdk, client)
        urls[name] = posted
    expected = ours.constants.SERVER_URL[zone][ours.constants.BATCH if use_batch else ours.constants.HTTP_V2]
    assert urls["ours"] == urls["theirs"] == [expected]


def mid_stream(sdk: Any, first: Sink, second: Sink) -> List[Tuple[str, int]]:
    codes: List[Tuple[str, int]] = []
    config = sdk.Config(server_url=first.url, callback=lambda event, code, message=None: codes.append(
        (event.event_type, code)))
    client = sdk.Amplitude("key-one", config)
    client.track(sdk.BaseEvent("Before", user_id="user-0001"))
    flush_until(sdk, client, lambda: len(codes) >= 1)
    client.configuration.api_key = "key-two"
    client.configuration.server_url = second.url
    client.configuration.min_id_length = 6
    client.track(sdk.BaseEvent("After", user_id="user-0001"))
    client.track(sdk.BaseEvent("Too Short", user_id="user1"))  # 5 characters: min_id_length 6 refuses it
    flush_until(sdk, client, lambda: len(codes) >= 3)
    shutdown(sdk, client)
    return sorted(codes)


def test_key_endpoint_and_options_changed_after_the_first_event_apply_to_later_events():
    with Sink() as their_first, Sink() as their_second, Sink() as our_first, Sink() as our_second:
        their_codes = mid_stream(theirs, their_first, their_second)
        our_codes = mid_stream(ours, our_first, our_second)
    for first, second in ((our_first, our_second), (their_first, their_second)):
        assert [r[2:4] for r in wire(first)] == [("key-one", None)]
        assert {r[2:4] for r in wire(second)} == {("key-two", '{"min_id_length": 6}')}
    assert events_of(wire(our_first)) == events_of(wire(their_first))
    assert events_of(wire(our_second)) == events_of(wire(their_second))
    assert ingested(our_second) == ingested(their_second) and len(ingested(our_second)) == 1
    assert our_codes == their_codes == [("After", 200), ("Before", 200), ("Too Short", 400)]


def test_batching_settings_changed_after_the_first_event_apply():
    with Sink() as sink:
        client = ours.Amplitude("k", ours.Config(server_url=sink.url, flush_interval_millis=60_000))
        client.track(ours.BaseEvent("First", user_id="user-0001"))
        client.flush(timeout=10)
        client.configuration.flush_queue_size = 3
        for i in range(3):
            client.track(ours.BaseEvent("Full", user_id="user-0001", event_properties={"i": i}))
        # No flush(): three events now fill a request (200 and a minute's wait before).
        assert wait_until(lambda: len(sink.ingested) == 4, 30), len(sink.ingested)
        client.configuration.flush_interval_millis = 100
        client.track(ours.BaseEvent("Alone", user_id="user-0001"))
        assert wait_until(lambda: len(sink.ingested) == 5, 30), len(sink.ingested)
        client.shutdown(timeout=5)


def test_flush_max_retries_changed_after_the_first_event_bounds_the_retries():
    answers = iter([(200, b'{"code": 200}')])

    def responder(path: str, raw: bytes, default: Any) -> Any:
        return next(answers, (503, b'{"code": 503, "error": "down"}'))

    codes: List[int] = []
    with Sink(responder) as sink:
        client = ours.Amplitude("k", ours.Config(server_url=sink.url, retry_base_interval=0.01))
        client.track(ours.BaseEvent("First", user_id="user-0001"))
        client.flush(timeout=10)
        client.configuration.flush_max_retries = 1
        client.track(ours.BaseEvent("Down", user_id="user-0001", callback=lambda e, code, m: codes.append(code)))
        started = time.monotonic()
        assert client.flush(timeout=15)[0].result() is True
        took = time.monotonic() - started
        client.shutdown(timeout=1)
    assert len(sink.requests) == 3  # the first event, then the second one twice: one retry
    assert codes == [503] and took < 5


def test_logger_changed_after_the_first_event_gets_the_invalid_api_key_error(caplog):
    def responder(path: str, raw: bytes, default: Any) -> Any:
        return (400, b'{"code": 400, "error": "Invalid API key: k"}') if b'"Refused"' in raw else None

    with Sink(responder) as sink:
        client = ours.Amplitude("k", ours.Config(server_url=sink.url))
        client.track(ours.BaseEvent("First", user_id="user-0001"))
        client.flush(timeout=10)
        client.configuration.logger = logging.getLogger("my-app.amplitude")
        with caplog.at_level(logging.ERROR, logger="my-app.amplitude"):
            client.track(ours.BaseEvent("Refused", user_id="user-0001"))
            client.flush(timeout=10)
        client.shutdown(timeout=5)
    mine = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "my-app.amplitude"]
    assert mine == [("ERROR", "Invalid API Key")]


def test_storage_provider_applies_until_the_first_event_then_a_change_is_a_warning(tmp_path, caplog):
    path = tmp_path / "amplitude.spool"
    with Sink() as sink:
        client = ours.Amplitude("k", ours.Config(server_url=sink.url))
        client.configuration.storage_provider = ours.SpoolStorageProvider(str(path))  # before the first event
        client.track(ours.BaseEvent("Spooled", user_id="user-0001"))
        client.flush(timeout=10)
        assert path.exists() and client.stats()["destinations"]["Amplitude"].get("spool_depth") == 0
        with caplog.at_level(logging.WARNING, logger="amplitude"):
            client.configuration.storage_provider = ours.storage.InMemoryStorageProvider()
        client.shutdown(timeout=5)
    assert [r.getMessage() for r in caplog.records if r.name == "amplitude"] == [
        "Config.storage_provider was changed after the client sent its first event: events keep waiting where "
        "they did; the new provider applies to a new Amplitude client only"]
    assert len(sink.ingested) == 1


def config_problems(sdk: Any, sink: Sink) -> List[Tuple[str, int]]:
    codes: List[Tuple[str, int]] = []

    def callback(event: Any, code: int, message: Any = None) -> None:
        codes.append((event.event_type, code))

    client = sdk.Amplitude(None, sdk.Config(server_url=sink.url, callback=callback))  # the key comes later...
    client.track(sdk.BaseEvent("No Key", user_id="user-0001"))
    flush_until(sdk, client, lambda: len(codes) >= 1)
    client.configuration.api_key = "key"  # ...or now
    client.track(sdk.BaseEvent("Keyed", user_id="user-0001"))
    flush_until(sdk, client, lambda: len(codes) >= 2)
    shutdown(sdk, client)
    return sorted(codes)


def test_a_missing_api_key_is_never_raised_and_goes_as_the_reference_sends_it():
    with Sink() as their_sink, Sink() as our_sink:
        their_codes = config_problems(theirs, their_sink)
        our_codes = config_problems(ours, our_sink)
        empty = ours.Amplitude("")  # an empty key does not raise either (it did)
        empty.configuration.server_url = our_sink.url
        empty.track(ours.BaseEvent("E", user_id="user-0001"))
        empty.shutdown(timeout=5)
    assert our_codes == their_codes == [("Keyed", 200), ("No Key", 400)]
    assert [r[2] for r in wire(their_sink)] == [None, "key"]
    assert [r[2] for r in wire(our_sink)] == [None, "key", ""]


def test_an_unusable_endpoint_is_logged_and_its_events_reported_never_raised(caplog):
    codes: List[int] = []
    with caplog.at_level(logging.ERROR, logger="amplitude"):
        client = ours.Amplitude("k")
        client.configuration.server_zone = "Mars"
        client.track(ours.BaseEvent("Nowhere", user_id="user-0001", callback=lambda e, code, m: codes.append(code)))
        client.configuration.server_url = "ftp://example.invalid/"
        client.track(ours.BaseEvent("Nowhere", user_id="user-0001", callback=lambda e, code, m: codes.append(code)))
        client.flush(timeout=5)
    stats = client.stats()
    client.shutdown(timeout=1)
    assert codes == [0, 0] and stats["dropped"] == {"invalid": 2} and stats["enqueued"] == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "amplitude"]
    assert any("'Mars' is neither 'US' nor 'EU'" in m for m in logged)
    assert any("'ftp://example.invalid/' is not an http:// or https:// URL" in m for m in logged)
