"""flush() without a timeout waits until every earlier message reached an outcome."""

from __future__ import annotations

from analytics_sdk import Client


def test_flush_without_timeout_delivers_everything_through_a_flaky_collector(faulty_collector):
    # 30% of requests fail with 500: the old 5 s default gave up with thousands still queued.
    flaky = faulty_collector(error_rate=0.3, seed=7)
    client = Client("key", host=flaky.url, upload_size=50, max_retries=30)
    try:
        ids = {client.track(f"user-{i % 97}", "Row Imported", {"row": i})[1]["messageId"] for i in range(2000)}
        assert client.flush() is True
        stored = {e["messageId"] for e in flaky.events(limit=10_000)}
        assert stored == ids
        stats = client.stats()
        assert stats["delivered"] == 2000 and stats["dropped_total"] == 0 and stats["retried_requests"] > 0
    finally:
        client.shutdown(timeout=2)


def test_flush_with_a_timeout_keeps_its_bound(faulty_collector):
    stalled = faulty_collector(stall=True)
    client = Client("key", host=stalled.url, timeout=30)
    try:
        client.track("u", "Stuck")
        assert client.flush(timeout=0.3) is False
    finally:
        client.shutdown(timeout=0.2)


def test_flush_timeout_setting_bounds_flush_without_an_argument(faulty_collector):
    stalled = faulty_collector(stall=True)
    client = Client("key", host=stalled.url, timeout=30, flush_timeout=0.3)
    try:
        client.track("u", "Stuck")
        assert client.flush() is False
        assert client.exit_timeout == 0.3  # exit falls back to flush_timeout when it is set
    finally:
        client.shutdown(timeout=0.2)
    assert Client("key", send=False).exit_timeout == 5.0
