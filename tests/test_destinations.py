"""Several destinations per client: fan-out, isolation, per-event replies, per-destination stats."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

from analytics_sdk import Client, Segment, ValidationError
from analytics_sdk.delivery.replies import resolve
from analytics_sdk.wire import Action, CustomerIO, Hightouch, Reply, RudderStack

from .fake_backend import Lines, LinesBackend


@pytest.fixture
def backend():
    running = LinesBackend()
    yield running
    running.close()


@pytest.fixture
def two_destination_client(collector, backend):
    clients: List[Client] = []

    def make(**options: Any) -> Client:
        client = Client(destinations=[Segment("seg-key", host=collector.url), Lines(backend.url)], **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=2)


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_every_message_reaches_every_destination(two_destination_client, collector, backend):
    client = two_destination_client()
    sent = [client.track(f"user-{i}", "Signed Up", {"i": i})[1]["messageId"] for i in range(120)]
    sent.append(client.identify("user-1", {"plan": "pro"})[1]["messageId"])
    assert client.flush()
    assert sorted(e["messageId"] for e in collector.events()) == sorted(sent)
    assert sorted(backend.ids()) == sorted(sent)  # every one, none twice
    stats = client.stats()
    assert set(stats["destinations"]) == {"Segment", "Lines"}
    for per in stats["destinations"].values():
        assert per["enqueued"] == per["delivered"] == 121
    assert stats["delivered"] == 242 and stats["dropped_total"] == 0


def test_a_stalled_destination_for_a_minute_never_delays_the_other(two_destination_client, collector, backend):
    """Lines stalls (accepts the connection, never answers) for 60 s; Segment gets
    everything at once; after recovery Lines gets everything too, exactly once."""
    backend.set_mode("stall")
    client = two_destination_client(timeout=2.0)
    started = time.monotonic()
    ids = [client.track(f"u{i}", "Clicked")[1]["messageId"] for i in range(300)]
    assert collector.wait_for(300, timeout=20)
    segment_done = time.monotonic() - started
    assert sorted(e["messageId"] for e in collector.events()) == sorted(ids)
    assert backend.ids() == []  # still stalled: nothing there yet
    # The collector stores before it answers: wait for the client to have read the answers.
    assert _wait(lambda: client.stats()["destinations"]["Segment"]["delivered"] == 300)
    assert client.stats()["destinations"]["Lines"]["delivered"] == 0
    # Calls keep being cheap and keep reaching Segment while Lines is stuck.
    more = [client.track("late", "Clicked")[1]["messageId"] for _ in range(20)]
    assert collector.wait_for(320, timeout=20)
    remaining = 60.0 - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    assert backend.ids() == []
    backend.set_mode("ok")
    assert client.flush(timeout=120)
    assert sorted(backend.ids()) == sorted(ids + more)  # all of them, none twice
    stats = client.stats()
    assert stats["destinations"]["Lines"]["delivered"] == 320
    assert stats["destinations"]["Segment"]["delivered"] == 320
    assert stats["dropped_total"] == 0 and stats["retried_requests"] > 0
    assert segment_done < 60  # Segment finished while Lines was still stalled


def test_a_destination_that_is_down_retries_while_the_other_delivers(two_destination_client, collector, backend):
    backend.set_mode("down")
    client = two_destination_client()
    ids = [client.track("u", "Viewed")[1]["messageId"] for _ in range(50)]
    assert collector.wait_for(50, timeout=10)
    assert _wait(lambda: backend.requests >= 2)  # Lines is being retried
    backend.set_mode("ok")
    assert client.flush(timeout=60)
    assert sorted(backend.ids()) == sorted(ids)


def test_named_events_are_dropped_and_throttled_users_held_while_others_flow(collector, backend):
    backend.reject_events = {"Bad Event"}
    backend.throttle_users = {"slow-user": 1}
    backend.throttle_seconds = 6.0  # the held event's wait: the later one must arrive within it
    errors: List[Any] = []
    client = Client(destinations=[Lines(backend.url)], on_error=lambda e, msgs: errors.append((e, msgs)))
    try:
        held = client.track("slow-user", "Good")[1]["messageId"]
        bad = client.track("u1", "Bad Event")[1]["messageId"]
        ok = client.track("u2", "Good")[1]["messageId"]
        assert _wait(lambda: ok in backend.ids())
        # The held event is not there yet; events sent after it keep flowing meanwhile.
        assert held not in backend.ids()
        later = client.track("u3", "Good")[1]["messageId"]
        assert _wait(lambda: later in backend.ids() or held in backend.ids(), timeout=30)
        assert later in backend.ids() and held not in backend.ids()  # not behind the held one
        assert client.flush(timeout=30)
        assert held in backend.ids() and bad not in backend.ids()
        assert [e.reason for e, _ in errors] == ["invalid"]
        assert errors[0][0].destination == "Lines" and errors[0][1][0]["id"] == bad
        stats = client.stats()
        assert stats["delivered"] == 3 and stats["dropped"] == {"invalid": 1}
        assert stats["retried_requests"] >= 1
    finally:
        client.shutdown(timeout=2)


def test_held_events_still_pending_at_shutdown_are_reported(backend):
    backend.throttle_users = {"slow-user": 100}
    backend.throttle_seconds = 30.0
    errors: List[str] = []
    client = Client(destinations=[Lines(backend.url)], on_error=lambda e, msgs: errors.append(e.reason))
    client.track("slow-user", "Good")
    assert _wait(lambda: backend.requests >= 1)
    assert client.shutdown(timeout=0.5) is False
    assert errors == ["shutdown_timeout"]
    assert client.stats()["dropped"] == {"shutdown_timeout": 1}


def test_integrations_switch_a_destination_off_for_one_message(two_destination_client, collector, backend):
    client = two_destination_client()
    only_segment = client.track("u", "Private", integrations={"Lines": False})[1]["messageId"]
    everywhere = client.track("u", "Public")[1]["messageId"]
    only_lines = client.track("u", "Lines Only", integrations={"All": False, "Lines": True})[1]["messageId"]
    assert client.flush()
    # Segment always gets the message: integrations are its own routing switches.
    assert {e["messageId"] for e in collector.events()} == {only_segment, everywhere, only_lines}
    assert sorted(backend.ids()) == sorted([everywhere, only_lines])
    assert client.stats()["destinations"]["Lines"]["filtered"] == 1


def test_an_event_too_large_for_one_destination_still_reaches_the_other(two_destination_client, collector, backend):
    errors: List[Any] = []
    client = two_destination_client(on_error=lambda e, msgs: errors.append(e))
    ok, _ = client.track("u" * 5000, "Big User Id")  # over Lines' 4 KB event limit, fine for Segment
    assert ok is False  # not queued everywhere: the return value says so
    assert client.flush()
    assert len(collector.events()) == 1 and backend.ids() == []
    assert [(e.reason, e.destination) for e in errors] == [("too_large", "Lines")]


def test_destination_arguments_are_checked():
    with pytest.raises(ValidationError, match="destinations"):
        Client(destinations=[object()])
    with pytest.raises(ValidationError, match="destinations"):
        Client(destinations=[])
    with pytest.raises(ValidationError, match="write_key"):
        Segment("")
    with pytest.raises(ValidationError, match="region"):
        CustomerIO("k", region="mars")


def test_host_presets():
    assert RudderStack("k", "https://acme.dataplane.rudderstack.com").url == "https://acme.dataplane.rudderstack.com/v1/batch"
    assert Hightouch("k").url == "https://us-east-1.hightouch-events.com/v1/batch"
    assert CustomerIO("k", region="eu").url == "https://cdp-eu.customer.io/v1/batch"
    assert "k" not in repr(Segment("k-secret-key"))


def test_repeated_destination_names_get_distinct_stats_keys(collector):
    client = Client(destinations=[Segment("a", host=collector.url), Segment("b", host=collector.url)])
    try:
        client.track("u", "Twice")
        assert client.flush()
        assert set(client.stats()["destinations"]) == {"Segment", "Segment#2"}
        assert collector.summary()["duplicates"] == 1  # same messageId, two write keys, one store
    finally:
        client.shutdown(timeout=2)


def test_resolve_gives_each_event_exactly_one_next_step():
    items = [b"a", b"b", b"c", b"d", b"e"]
    reply = Reply(Action.RETRY, 429, drops={0: ("invalid", "bad")}, holds={2: 30.0, 9: 1.0})
    result = resolve(reply, items)
    assert result.dropped == {("invalid", "bad"): [b"a"]}
    assert result.held == {30.0: [b"c"]}
    assert result.retry == [b"b", b"d", b"e"]
    assert resolve(Reply(Action.SPLIT, 400, reason="invalid"), [b"x"]).dropped == {("invalid", ""): [b"x"]}
    assert resolve(Reply(Action.SPLIT, 413), items).halves == [[b"a", b"b"], [b"c", b"d", b"e"]]
    assert resolve(Reply(Action.DELIVERED, 200), items).delivered == items


def test_held_events_are_resent_on_time_under_continuous_traffic(backend):
    backend.throttle_users = {"slow-user": 1}
    backend.throttle_seconds = 0.3
    client = Client(destinations=[Lines(backend.url)], upload_size=5, upload_interval=0.05)
    stop = threading.Event()

    def traffic() -> None:  # the queue is never empty for long
        while not stop.is_set():
            client.track("busy-user", "Tick")
            time.sleep(0.002)

    try:
        held = client.track("slow-user", "Throttled")[1]["messageId"]
        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            assert _wait(lambda: held in backend.ids(), timeout=10)  # while traffic still flows
        finally:
            stop.set()
            thread.join()
        assert client.flush(timeout=10)
    finally:
        client.shutdown(timeout=2)


def test_integrations_switch_off_a_lone_destination_too(backend):
    client = Client(destinations=[Lines(backend.url)])
    try:
        ok, _ = client.track("u", "Private", integrations={"Lines": False})
        kept = client.track("u", "Public")[1]["messageId"]
        assert ok and client.flush(timeout=5)
        assert backend.ids() == [kept]
        assert client.stats()["filtered"] == 1
    finally:
        client.shutdown(timeout=2)
