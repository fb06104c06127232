"""``analytics_sdk.amplitude`` against the real ``amplitude-analytics`` as an oracle: the
same calls through both, against one loopback server, give the same events on the
wire (library, time and insert_id aside) and the same callback codes. Plus plugins,
flush, shutdown and delivery at exit."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest

from analytics_sdk import Client
import analytics_sdk.amplitude as ours

from .amplitude_sink import Sink

theirs = pytest.importorskip("amplitude")

FILLED_BY_SDK = ("library", "time", "insert_id")


def scenario(sdk: Any, client: Any) -> None:
    """The same calls, written once against the amplitude-analytics API."""
    options = sdk.EventOptions(user_id="user-0001", device_id="device-0001", session_id=1714564800000)
    client.track(sdk.BaseEvent("Song Played", user_id="user-0001", device_id="device-0001",
                               event_properties={"title": "x" * 1500, "n": 3, "skip": None},
                               groups={"team": "red"}, location_lat=1.5, price=2.5, quantity=2, revenue=5.0,
                               product_id="sku-1", revenue_type="sale", platform="server", session_id=77))
    event = sdk.BaseEvent("Item Access", user_id="user-0002")
    event["groups"] = {"org": ["a", "b"]}
    event["price"] = 5  # an int price: refused by both, left out
    client.track(event)
    client.identify(sdk.Identify().set("plan", "pro").set_once("first", "2024").add("logins", 1).append("tags", "a")
                    .prepend("p", 1).pre_insert("q", 2).post_insert("r", 3).remove("s", 4).unset("old"), options)
    client.identify(sdk.Identify().clear_all(), sdk.EventOptions(user_id="user-0003"))
    client.group_identify("org", "acme", sdk.Identify().set("tier", "gold"), options, {"ep": 1}, {"up": 2})
    client.set_group("org", ["acme", "beta"], sdk.EventOptions(user_id="user-0004"))
    client.revenue(sdk.Revenue(price=9.99, quantity=2, product_id="sku-2", revenue_type="purchase", receipt="r-1",
                               receipt_sig="sig", properties={"coupon": "c"}, revenue=19.98, currency="USD"),
                   sdk.EventOptions(device_id="device-0002"))
    client.track(sdk.BaseEvent("Short Id", user_id="abc"))  # the server refuses it (id length): callback 400


def run(sdk: Any, sink: Sink, api_key: str, with_callback: bool = True) -> List[Tuple[str, int]]:
    codes: List[Tuple[str, int]] = []
    lock = threading.Lock()

    def callback(event: Any, code: int, message: Any) -> None:
        with lock:
            codes.append((event.event_type, code))

    config = sdk.Config(server_url=sink.url, callback=callback if with_callback else None, min_id_length=3,
                        plan=sdk.Plan(branch="main", source="web", version="1"))
    config.min_id_length = 4  # changed after construction, as users do, before the client exists
    client = sdk.Amplitude(api_key, config)
    scenario(sdk, client)
    for _ in range(3):  # amplitude-analytics resends the events a 400 did not name on a later flush
        futures = client.flush()
        for future in futures if isinstance(futures, list) else [futures]:
            if future is not None:
                future.result()
    client.shutdown()
    return sorted(codes)


def wire_events(sink: Sink, api_key: str) -> List[Dict[str, Any]]:
    events = [e for body in sink.bodies() if body["api_key"] == api_key for e in body["events"]]
    events = [e for e in events if e.get("user_id") != "abc"]  # sent once, refused: same for both
    return sorted((json.dumps({k: v for k, v in e.items() if k not in FILLED_BY_SDK}, sort_keys=True) for e in events))


def test_same_events_on_the_wire_and_same_callback_codes_as_amplitude_analytics():
    with Sink() as sink:
        their_codes = run(theirs, sink, "their-key")
        our_codes = run(ours, sink, "our-key")
    assert our_codes == their_codes
    assert ("Short Id", 400) in our_codes and ("Song Played", 200) in our_codes
    assert len(set(wire_events(sink, "our-key"))) == 7  # each sent twice: the first request was refused (short id)
    assert wire_events(sink, "our-key") == wire_events(sink, "their-key")
    ours_bodies = [b for b in sink.bodies() if b["api_key"] == "our-key"]
    assert all(b["options"] == {"min_id_length": 4} for b in ours_bodies)
    first = ours_bodies[0]["events"][0]
    assert first["library"].startswith("analytics-sdk-python/") and isinstance(first["time"], int)


def test_without_a_callback_the_same_events_on_the_wire_as_amplitude_analytics():
    # No callback: nothing needs the Segment-shaped message, so each event takes the
    # client's prebuilt path (Client.enqueue_prebuilt); it must put the same bytes out.
    calls: List[Any] = []
    real = Client.enqueue_message
    with Sink() as sink, pytest.MonkeyPatch.context() as patch:
        patch.setattr(Client, "enqueue_message", lambda self, *a: calls.append(a) or real(self, *a))
        run(theirs, sink, "their-key", with_callback=False)
        run(ours, sink, "our-key", with_callback=False)
    assert calls == []  # every event took the prebuilt path
    assert len(set(wire_events(sink, "our-key"))) == 7
    assert wire_events(sink, "our-key") == wire_events(sink, "their-key")
    for body in (b for b in sink.bodies() if b["api_key"] == "our-key"):
        for event in body["events"]:
            assert list(event)[-2:] == ["insert_id", "library"], event  # as the message path orders them
            assert event["library"].startswith("analytics-sdk-python/") and isinstance(event["time"], int)


def test_callbacks_for_every_outcome_event_level_too():
    with Sink(lambda path, raw, default: (400, b'{"code": 400, "error": "Invalid event JSON"}')) as sink:
        seen: List[Tuple[str, int]] = []
        client = ours.Amplitude("k", ours.Config(server_url=sink.url, flush_timeout=10))
        client.track(ours.BaseEvent("Bad", user_id="user-1", callback=lambda e, code, msg: seen.append((e.event_type, code))))
        client.track(ours.BaseEvent("No Ids", callback=lambda e, code, msg: seen.append((e.event_type, code))))
        client.flush()
        client.shutdown()
    assert sorted(seen) == [("Bad", 400), ("No Ids", 0)]  # the server refused one; the other had no id


class Tag(ours.EventPlugin):
    def __init__(self) -> None:
        super().__init__(ours.PluginType.ENRICHMENT)

    def track(self, event: Any) -> Any:
        if event.event_type == "Secret":
            return None
        event.event_properties = {**(event.event_properties or {}), "tagged": True}
        return event


class Upper(ours.EventPlugin):
    def __init__(self) -> None:
        super().__init__(ours.PluginType.ENRICHMENT)

    def track(self, event: Any) -> Any:
        event.event_type = event.event_type.upper()
        return event


class Collect(ours.DestinationPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.got: List[Tuple[str, str, Dict[str, Any]]] = []
        self.shut = False

    def execute(self, event: Any) -> None:
        event = self.timeline.process(event)
        self.got.append((event.event_type, threading.current_thread().name, dict(event.event_properties or {})))

    def shutdown(self) -> None:
        self.shut = True


def test_plugins_enrich_drop_and_destination_plugins_get_each_event_off_the_callers_thread():
    with Sink() as sink:
        client = ours.Amplitude("k", ours.Config(server_url=sink.url, flush_timeout=10))
        collect = Collect()
        collect.add(Upper())
        client.add(Tag()).add(collect)
        client.track(ours.BaseEvent("Played", user_id="user-1"))
        client.track(ours.BaseEvent("Secret", user_id="user-1"))
        client.identify(ours.Identify().set("a", 1), ours.EventOptions(user_id="user-1"))
        client.flush()
        client.remove(collect)
        client.track(ours.BaseEvent("After", user_id="user-1"))
        client.shutdown()
    sent = [e for body in sink.bodies() for e in body["events"]]
    assert [e["event_type"] for e in sent] == ["Played", "$identify", "After"]
    assert sent[0]["event_properties"] == {"tagged": True}
    assert [(t, p) for t, _, p in collect.got] == [("PLAYED", {"tagged": True}), ("$identify", {})]  # Upper only overrides track()
    assert all(name != threading.current_thread().name for _, name, _ in collect.got)
    assert collect.shut


def test_config_maps_onto_the_pipeline_and_opt_out_skips():
    config = ours.Config(flush_queue_size=50, flush_interval_millis=250, flush_max_retries=4, server_zone="EU",
                         use_batch=True, retry_throttled_interval=5, connection_timeout=3, max_storage_capacity=99,
                         retry_base_interval=0.2)
    client = ours.Amplitude("k", config)
    inner = client._client
    destination = inner.destinations[0]
    assert destination.url == "https://api.eu.amplitude.com/batch" == config.server_url
    assert (inner.upload_size, inner.upload_interval, inner.max_retries, inner.max_queue_size, inner.timeout) == (
        50, 0.25, 4, 99, 3)
    assert destination.retry_throttled_interval == 5.0 and inner._consumer.retry_policy.backoff_base == 0.2
    config.opt_out = True
    client.track(ours.BaseEvent("E", user_id="user-1"))
    assert client.stats()["enqueued"] == 0
    client.shutdown(timeout=1)


def test_events_are_delivered_at_exit_without_flush(tmp_path):
    with Sink() as sink:
        script = textwrap.dedent(f"""
            from analytics_sdk.amplitude import Amplitude, BaseEvent, Config
            client = Amplitude("k", Config(server_url={sink.url!r}))
            for i in range(3):
                client.track(BaseEvent("Exit", user_id="user-1", event_properties={{"i": i}}))
        """)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert sorted(e["event_properties"]["i"] for e in sink.ingested) == [0, 1, 2]


def _event_bytes(raw: bytes) -> List[bytes]:
    """The events of a request body, byte for byte as sent (our bodies join them with ',')."""
    events = raw[raw.index(b'"events":[') + len(b'"events":['):raw.rindex(b"]")]
    return events.split(b',{"') if events else []


def test_the_prebuilt_path_and_the_message_path_send_the_same_bytes(monkeypatch):
    # With a callback the event goes as a Segment-shaped message through the
    # destination's mapping; without one, as it is (Client.enqueue_prebuilt). Same bytes.
    def make() -> Any:
        return ours.BaseEvent("Song Played", user_id="user-1", device_id="dev-1", time=1714564800000,
                              insert_id="fixed-insert-id", event_properties={"t": "é" * 1100, "n": None, "x": 1.5},
                              groups={"g": "h"}, price=2.5, plan=ours.Plan(branch="b"))

    with Sink() as sink:
        message_path = ours.Amplitude("k1", ours.Config(server_url=sink.url, callback=lambda *a: None))
        message_path.track(make())
        message_path.shutdown()
        prebuilt = ours.Amplitude("k2", ours.Config(server_url=sink.url))
        calls: List[Any] = []
        real = Client.enqueue_message
        monkeypatch.setattr(Client, "enqueue_message", lambda self, *a: calls.append(a) or real(self, *a))
        prebuilt.track(make())
        prebuilt.shutdown()
    assert calls == []  # it did take the prebuilt path
    by_key = {json.loads(raw)["api_key"]: _event_bytes(raw) for _, _, raw in sink.requests}
    assert by_key["k1"] == by_key["k2"] and len(by_key["k1"]) == 1
    assert json.loads(by_key["k1"][0])["event_properties"]["t"] == "é" * 1024  # Amplitude's limit applied


def test_an_event_amplitude_would_refuse_is_still_reported_without_a_callback(caplog):
    # The prebuilt path declines it (no user_id or device_id): the message path refuses
    # and reports it, as it always did.
    client = ours.Amplitude("k", ours.Config(server_url="http://127.0.0.1:9/2/httpapi"))
    with caplog.at_level(logging.INFO, logger="amplitude"):
        client.track(ours.BaseEvent("No Ids"))
    stats = client.stats()
    client.shutdown(timeout=1)
    assert stats["dropped"] == {"invalid": 1} and stats["enqueued"] == 0, stats
    assert any("not delivered" in r.getMessage() and "user_id or a device_id" in r.getMessage() for r in caplog.records)


class _Stalled:
    """A 127.0.0.1 port that takes connections and never answers: the uploader stays busy."""

    def __enter__(self) -> str:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/2/httpapi"

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()


def _reported(caplog: Any, reason: str) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "amplitude" and f": {reason}" in r.getMessage()]


def test_prebuilt_path_refusals_are_counted_and_reported(caplog):
    # Without a callback every event takes the prebuilt path: what it cannot queue
    # (too large, queue full, client closed) is dropped with its reason and logged.
    huge = {f"k{i}": "x" * 1000 for i in range(1020)}  # over HTTP V2's 1 MB request
    with _Stalled() as url, caplog.at_level(logging.INFO, logger="amplitude"):
        client = ours.Amplitude("k", ours.Config(server_url=url, max_storage_capacity=2, flush_queue_size=100))
        client.track(ours.BaseEvent("Big", user_id="user-1", event_properties=huge))
        for i in range(5):  # the uploader holds at most a queue's worth (2): 5 cannot all fit
            client.track(ours.BaseEvent("Queued", user_id="user-1", event_properties={"i": i}))
        stats = client.stats()
        client._client.shutdown(timeout=0.5)
        client.track(ours.BaseEvent("Late", user_id="user-1"))
        after = client.stats()
    assert stats["dropped"]["too_large"] == 1
    assert stats["dropped"]["queue_full"] >= 1 and stats["enqueued"] + stats["dropped"]["queue_full"] == 5, stats
    assert after["dropped"]["client_closed"] == 1, after
    for reason in ("too_large", "queue_full", "client_closed"):
        assert _reported(caplog, reason), reason


class _FailsToCompare(str):
    """A string whose comparison raises (a user's str subclass with a broken __eq__)."""

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        raise RuntimeError("broken __eq__")

    __hash__ = str.__hash__


def test_an_encoding_failure_on_the_prebuilt_path_is_reported_not_raised(caplog):
    # A string over 1,024 characters makes the destination compare the cut copy; that
    # raises here. The prebuilt path declines, and the message path drops and reports it.
    event = ours.BaseEvent("Odd", user_id="user-1")
    event.event_properties = {"k": _FailsToCompare("y" * 2000)}
    client = ours.Amplitude("k", ours.Config(server_url="http://127.0.0.1:9/2/httpapi"))
    with caplog.at_level(logging.INFO, logger="amplitude"):
        client.track(event)  # must not raise
    stats = client.stats()
    client.shutdown(timeout=1)
    assert stats["dropped"] == {"unsendable": 1} and stats["enqueued"] == 0, stats
    assert _reported(caplog, "unsendable")


@pytest.mark.parametrize("with_callback", [False, True], ids=["prebuilt", "message"])
def test_a_time_beyond_datetimes_range_is_sent_as_given(with_callback):
    # amplitude-analytics sends any int time as it is; so do both of our paths (the
    # message path used to raise ValueError from track() computing its timestamp).
    codes: List[int] = []
    with Sink() as sink:
        config = ours.Config(server_url=sink.url, callback=(lambda e, code, m: codes.append(code)) if with_callback else None)
        client = ours.Amplitude("k", config)
        client.track(ours.BaseEvent("Far", user_id="user-1", time=10**18))
        client.track(ours.BaseEvent("No Ids", time=10**18))  # refused as invalid, not raised
        stats = client.stats()
        client.shutdown()
    assert [e["time"] for b in sink.bodies() for e in b["events"]] == [10**18]
    assert stats["dropped"] == {"invalid": 1}, stats
    assert sorted(codes) == ([0, 200] if with_callback else []), codes
