"""Delivery through a real collector on 127.0.0.1: every call type, wire format, batching."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from analytics_sdk import Client, ValidationError
from analytics_sdk.delivery import consumer
from analytics_sdk.delivery.batching import MAX_MESSAGE_BYTES
from analytics_sdk.delivery.transport import USER_AGENT, Attempt

from .waiting import wait_until


def all_six(client: Client) -> list:
    return [
        client.identify("u1", {"email": "a@example.com"}),
        client.track("u1", "Order Completed", {"revenue": 42}),
        client.page("u1", "Docs", "Intro", {"path": "/docs"}),
        client.screen("u1", "App", "Home"),
        client.group("u1", "g1", {"name": "Acme"}),
        client.alias("anon-1", "u1"),
    ]


def test_every_call_type_arrives_in_segment_wire_format(collector, make_client):
    client = make_client()
    results = all_six(client)
    assert all(ok for ok, _ in results)
    assert client.flush(timeout=5)
    stored = {e["messageId"]: e for e in collector.events()}
    assert len(stored) == 6
    for _, sent in results:
        got = stored[sent["messageId"]]
        got.pop("_received")
        assert got == json.loads(json.dumps(sent))  # what the call returned is what arrived
    track = next(e for e in stored.values() if e["type"] == "track")
    assert track["event"] == "Order Completed" and track["properties"] == {"revenue": 42}
    assert track["context"]["library"]["name"] == "analytics-sdk-python"


def test_request_headers_auth_and_body_envelope(collector, make_client):
    client = make_client(write_key="secret-key")
    client.track("u", "E")
    assert client.flush(timeout=5)
    request = collector.requests[-1]
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == "Basic " + base64.b64encode(b"secret-key:").decode()
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert collector.events()[0]["_received"]["write_key"] == "****"  # shown as sent, never whole


def test_gzip_bodies(collector, make_client):
    client = make_client(gzip=True)
    for i in range(50):
        client.track("u", "E", {"i": i, "text": "compressible " * 20})
    assert client.flush(timeout=5)
    assert collector.summary()["stored"] == 50
    gz = [r for r in collector.requests if r.headers.get("Content-Encoding") == "gzip"]
    assert gz and all(r.status == 200 for r in gz)
    assert sum(r.body_bytes for r in gz) < 50 * 260  # actually compressed


def test_batches_are_bounded_by_upload_size(collector, make_client):
    client = make_client(upload_size=10, backlog_upload_size=10, upload_interval=5)
    for i in range(25):
        client.track("u", "E", {"i": i})
    assert client.flush(timeout=5)  # flush does not wait out upload_interval
    counts = sorted(r.messages for r in collector.requests)
    assert counts == [5, 10, 10]


def test_light_traffic_sends_a_batch_as_soon_as_it_fills(collector, make_client):
    # No flush, upload_interval=60: the waiting uploader is woken when upload_size
    # events are in, not at the end of the interval.
    client = make_client(upload_size=10, upload_interval=60)
    for round_ in range(3):
        for i in range(10):
            client.track("u", "E", {"round": round_, "i": i})
        assert collector.wait_for(10 * (round_ + 1), timeout=30), round_  # (well under the 60 s interval)
    assert [r.messages for r in collector.requests] == [10, 10, 10]


def test_a_backlog_goes_out_in_fewer_fuller_requests(faulty_collector, make_client):
    slow = faulty_collector(latency=0.3)  # the backlog builds while the first request is out
    client = make_client(host=slow.url, upload_size=10, upload_interval=5)  # backlog_upload_size: 1000
    for i in range(250):
        client.track("u", "E", {"i": i})
    assert client.flush(timeout=10)
    sizes = [r.messages for r in slow.requests]
    assert sum(sizes) == 250 and len(sizes) <= 3 and max(sizes) > 100  # 25 requests of 10 before
    # Light traffic still gets small, prompt requests.
    client.track("u", "Alone")
    assert client.flush(timeout=5)
    assert slow.requests[-1].messages == 1


def test_heavy_traffic_waits_briefly_for_full_requests(faulty_collector, make_client):
    # Each request returns in ~5 ms, while ~20 events gather: more than upload_size,
    # so the uploader waits for a full request (50) rather than sending 20 at a time.
    server = faulty_collector(latency=0.005)
    client = make_client(host=server.url, upload_size=10, backlog_upload_size=50, upload_interval=5)
    for i in range(1000):
        client.track("u", "E", {"i": i})
        time.sleep(0.0002)
    assert client.flush(timeout=10)
    sizes = [r.messages for r in server.requests]
    assert sum(sizes) == 1000
    assert sum(size for size in sizes if size == 50) >= 700, sizes


def test_a_backlog_that_stops_short_is_sent_after_a_brief_wait(faulty_collector, make_client):
    # The wait for a full request is short (BACKLOG_LINGER), not upload_interval.
    server = faulty_collector(latency=0.3)
    client = make_client(host=server.url, upload_size=10, upload_interval=60)  # backlog_upload_size: 1000
    for i in range(10):
        client.track("u", "First", {"i": i})
    # The first request is out: the uploader took the 10 off the queue and waits 0.3 s for the answer.
    assert wait_until(lambda: client.stats()["queue_depth"] == 0, 30)
    for i in range(15):  # more than upload_size gathers meanwhile: heavy traffic, then nothing
        client.track("u", "Then", {"i": i})
    started = time.monotonic()
    assert server.wait_for(25, timeout=30)  # no flush: without the bound this waits 60 s
    assert time.monotonic() - started < 10  # ~0.35 s (the answer, BACKLOG_LINGER, the second answer)
    assert [r.messages for r in server.requests] == [10, 15]


def test_waiting_for_a_full_request_never_fills_a_small_queue(faulty_collector, make_client, monkeypatch):
    # A queue smaller than a full request (1,000 events): the uploader must not wait
    # for a run that cannot fill while callers are refused for room. The backlog wait is
    # stretched to a second, so a producer of ~1,000 events/s (300 would do) fills the queue
    # during it if the uploader waits it out, while an uploader that takes the run at half
    # full keeps up with room to spare even on a loaded machine (at ~10,000 events/s and the
    # real 0.05 s, a starved uploader alone made callers wait: 90 refused under load).
    monkeypatch.setattr(consumer, "BACKLOG_LINGER", 1.0)
    server = faulty_collector(latency=0.01)
    client = make_client(host=server.url, max_queue_size=300, upload_size=10, upload_interval=5)
    refused = 0
    for i in range(2000):
        refused += not client.track("u", "E", {"i": i})[0]
        time.sleep(0.001)
    assert client.flush(timeout=10)
    assert refused == 0 and client.stats()["dropped_total"] == 0
    assert sum(r.messages for r in server.requests) == 2000


def test_two_uploaders_lingering_on_one_run_send_no_empty_request(faulty_collector, make_client):
    server = faulty_collector(latency=0.05)
    for _ in range(5):
        client = make_client(host=server.url, upload_size=10, upload_interval=60, thread=2)
        for i in range(20):  # both uploaders take a request of 10
            client.track("u", "First", {"i": i})
        time.sleep(0.01)
        for i in range(30):  # heavy traffic meanwhile: both come back and linger on one run
            client.track("u", "Then", {"i": i})
        time.sleep(0.06)
        assert client.flush(timeout=5)
        client.shutdown(timeout=1)
    assert [r.messages for r in server.requests if r.messages == 0] == []
    assert sum(r.messages for r in server.requests) == 5 * 50


def test_batches_are_bounded_by_bytes(collector, make_client):
    client = make_client(upload_size=1000, upload_interval=5)
    big = "x" * 30_000  # 20 of these make 600 KB: over one 500 KB request
    for i in range(20):
        assert client.track("u", "E", {"i": i, "blob": big})[0]
    assert client.flush(timeout=10)
    assert collector.summary()["stored"] == 20
    assert len(collector.requests) >= 2
    assert all(r.status == 200 and r.body_bytes <= 500_000 for r in collector.requests)


def test_upload_interval_sends_without_flush(collector, make_client):
    client = make_client(upload_interval=0.05)
    client.track("u", "E")
    assert collector.wait_for(1, timeout=30)


def test_message_over_32kb_is_refused_at_the_call_and_reported(collector, make_client):
    errors = []
    client = make_client(on_error=lambda e, msgs: errors.append((e, msgs)))
    ok, msg = client.track("u", "Huge", {"blob": "x" * MAX_MESSAGE_BYTES})
    assert ok is False and msg["event"] == "Huge"
    assert client.stats()["dropped"] == {"too_large": 1}
    assert len(errors) == 1 and errors[0][0].reason == "too_large"
    assert errors[0][1][0]["messageId"] == msg["messageId"]
    assert client.track("u", "Small")[0]
    assert client.flush(timeout=5)
    assert [e["event"] for e in collector.events()] == ["Small"]


def test_queue_full_returns_false_and_counts(collector, make_client):
    gate, sending = threading.Event(), threading.Event()
    errors = []

    class BlockedTransport:
        timeout = 1

        def send(self, body, timeout=None):
            sending.set()
            gate.wait(30)
            return Attempt(200)

        def reset(self):
            pass

    client = make_client(
        max_queue_size=3, upload_size=1, transport=BlockedTransport(), on_error=lambda e, m: errors.append(e)
    )
    assert client.track("u", "E", {"i": 0})[0]
    assert sending.wait(30)  # the uploader now holds message 0 and is blocked
    results = [client.track("u", "E", {"i": i})[0] for i in range(1, 10)]
    assert results == [True] * 3 + [False] * 6
    assert client.stats()["dropped"] == {"queue_full": 6}
    assert client.stats()["queue_depth"] == 3
    assert len(errors) == 6 and {e.reason for e in errors} == {"queue_full"}
    gate.set()
    assert client.flush(timeout=5)
    assert client.stats()["delivered"] == 4


def test_send_false_builds_but_sends_nothing(collector, make_client):
    client = make_client(send=False)
    ok, msg = client.track("u", "E")
    assert ok and msg["event"] == "E"
    assert client.flush(timeout=10)
    assert collector.requests == []


def test_sync_mode_sends_on_the_callers_thread(collector, make_client):
    client = make_client(sync_mode=True)
    ok, msg = client.track("u", "E")
    assert ok
    assert [e["messageId"] for e in collector.events()] == [msg["messageId"]]  # already stored, no flush
    assert client.stats()["delivered"] == 1


def test_mutating_the_callers_dict_after_the_call_does_not_change_the_event(collector, make_client):
    client = make_client(upload_interval=5)
    props = {"items": [1, 2], "meta": {"a": 1}}
    _, msg = client.track("u", "E", props)
    props["items"].append(3)
    props["meta"]["a"] = "changed"
    props["new"] = True
    assert client.flush(timeout=5)
    assert collector.events()[0]["properties"] == {"items": [1, 2], "meta": {"a": 1}}


def test_values_json_cannot_hold_are_converted(collector, make_client):
    client = make_client()
    client.identify("u", {"birthday": date(1981, 2, 2), "balance": Decimal("10.5"), "seen": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    assert client.flush(timeout=5)
    assert collector.events()[0]["traits"] == {"birthday": "1981-02-02", "balance": 10.5, "seen": "2024-01-01T00:00:00+00:00"}


def test_failed_requests_reach_on_error(collector, make_client):
    errors = []
    client = make_client(host="http://127.0.0.1:9", max_retries=0, on_error=lambda e, m: errors.append((e, m)))
    _, msg = client.track("u", "E")
    client.flush(timeout=5)
    assert len(errors) == 1
    error, messages = errors[0]
    assert error.reason == "retries_exhausted" and error.status is None and error.attempts == 1
    assert messages[0]["messageId"] == msg["messageId"]


def test_bad_arguments_raise_at_the_call_site(make_client):
    client = make_client()
    with pytest.raises(ValidationError, match="event"):
        client.track("u")
    with pytest.raises(ValidationError, match="write_key"):
        Client()
    with pytest.raises(ValidationError, match="upload_size"):
        Client("k", upload_size=0)


def test_client_exposes_settings_under_segments_names(make_client):
    client = make_client(gzip=True, timeout=3, debug=False, sync_mode=False, max_queue_size=7)
    assert (client.write_key, client.gzip, client.timeout, client.send, client.sync_mode) == ("test-key", True, 3, True, False)
    assert client.queue.maxsize == 7 and client.queue.empty()
    assert "test-key" not in repr(client)


def test_host_must_be_a_url():
    with pytest.raises(ValidationError, match="host"):
        Client("k", host="api.segment.io")


def test_a_dropped_client_still_delivers_and_its_uploader_exits(collector):
    import gc

    client = Client("k", host=collector.url, upload_interval=5)
    client.track("u", "E")
    thread = client._consumer.threads[0]
    del client
    gc.collect()
    thread.join(30)
    assert not thread.is_alive()
    assert collector.summary()["stored"] == 1


def test_transport_choice_and_proxy_environment(monkeypatch):
    from analytics_sdk.delivery.transport import HttpTransport, RequestsTransport, make_transport

    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    url, headers = "http://collector.invalid/v1/batch", {}
    assert isinstance(make_transport(url, headers), HttpTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "")
    via_env = make_transport(url, headers)
    assert isinstance(via_env, RequestsTransport) and via_env.proxies == {"http": "http://127.0.0.1:3128"}
    explicit = make_transport(url, headers, proxies={"http": "http://127.0.0.1:9999"})
    assert explicit.proxies == {"http": "http://127.0.0.1:9999"}
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/ca.pem")
    assert RequestsTransport("https://collector.invalid/v1/batch", headers).verify == "/tmp/ca.pem"


def test_idle_keep_alive_connections_are_reopened(collector, make_client, monkeypatch):
    from analytics_sdk.delivery import transport

    monkeypatch.setattr(transport, "_MAX_IDLE_SECONDS", 0.0)
    client = make_client()
    for event in ("first", "second"):
        client.track("u", event)
        assert client.flush(timeout=5)
    assert [e["event"] for e in collector.events()] == ["first", "second"]
    assert client.stats()["retried_requests"] == 0


def test_requests_go_through_the_configured_proxy(collector, make_client):
    # The collector doubles as an HTTP proxy target: a proxied request arrives with an absolute URL.
    client = make_client(host="http://collector.invalid", proxies={"http": collector.url})
    client.track("u", "Via Proxy")
    assert client.flush(timeout=5)
    assert [e["event"] for e in collector.events()] == ["Via Proxy"]


def test_requests_a_split_costs_are_counted_as_retried(faulty_collector, make_client):
    # A collector with a 20 KB body limit: 413 for bigger requests, which the SDK halves.
    small = faulty_collector(max_body_bytes=20_000)
    client = make_client(host=small.url, upload_size=100, upload_interval=5)
    for i in range(60):
        client.track("u", "E", {"i": i, "pad": "x" * 900})
    assert client.flush(timeout=10)
    statuses = [r.status for r in small.requests]
    assert statuses.count(413) > 0
    stats = client.stats()
    assert stats["delivered"] == 60 and stats["dropped_total"] == 0
    assert stats["retried_requests"] == len(statuses) - 1  # every request after the first was a split half
