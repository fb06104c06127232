"""Pure batching and retry policy."""

from __future__ import annotations

import json
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from analytics_sdk.delivery.batching import ENVELOPE_BYTES, build_body, fits, halves, join_array
from analytics_sdk.delivery.retry import RetryPolicy, Verdict, classify, drop_reason, parse_retry_after


def test_body_is_segment_batch_json():
    body = build_body([b'{"a":1}', b'{"b":2}'], "2024-01-01T00:00:00+00:00")
    assert json.loads(body) == {"batch": [{"a": 1}, {"b": 2}], "sentAt": "2024-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("items", [[], [b"1"], [b"1", b"22"], [b"x"] * 1001])
def test_join_array_puts_commas_between_items_only(items):
    assert join_array(b"[", items, b"]") == b"[" + b",".join(items) + b"]"


def test_fits_bounds_count_and_bytes():
    assert fits(0, 0, 10**9, 100)  # one message always goes
    assert not fits(100, 100, 1, 100)
    assert fits(99, 100, 1, 100)
    limit = 1000
    # body so far: 2 messages of 400 bytes; a third of 400 would exceed 1000
    assert not fits(2, 800, 400, 100, limit)
    room = limit - ENVELOPE_BYTES - 2 - 100  # separators: one per message already there
    assert fits(2, 100, room, 100, limit)
    assert not fits(2, 100, room + 1, 100, limit)


def test_body_from_fitting_messages_stays_under_the_limit():
    limit = 5000
    batch, size = [], 0
    item = b'{"x":"' + b"y" * 300 + b'"}'
    while fits(len(batch), size, len(item), 1000, limit):
        batch.append(item)
        size += len(item)
    body = build_body(batch, "2024-01-01T00:00:00.123456+00:00")
    assert len(body) <= limit
    # and it is full: one more message would not leave the envelope's reserve
    assert limit - len(body) < len(item) + 1 + ENVELOPE_BYTES


def test_halves():
    assert halves([b"1", b"2", b"3"]) == ([b"1"], [b"2", b"3"])


@pytest.mark.parametrize(
    "status, verdict",
    [
        (None, Verdict.RETRY),
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (400, Verdict.SPLIT),
        (413, Verdict.SPLIT),
        (401, Verdict.DROP),
        (403, Verdict.DROP),
        (404, Verdict.DROP),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (501, Verdict.DROP),
        (505, Verdict.DROP),
    ],
)
def test_classify(status, verdict):
    assert classify(status) is verdict


def test_drop_reasons():
    assert drop_reason(400) == "invalid"
    assert drop_reason(413) == "too_large"
    assert drop_reason(401) == drop_reason(403) == "unauthorized"
    assert drop_reason(404) == "rejected"
    assert drop_reason(503) == drop_reason(None) == "retries_exhausted"


def test_parse_retry_after():
    assert parse_retry_after(None) is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("soon") is None
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(30.0)


def test_retry_state_backs_off_and_stops_after_max_retries():
    state = RetryPolicy(max_retries=4, backoff_base=1.0, backoff_max=4.0, max_elapsed=1000).start(now=0)
    delays = [state.next_delay(now=0) for _ in range(5)]
    assert delays[-1] is None
    waits = delays[:-1]
    for delay, base in zip(waits, [1, 2, 4, 4]):
        assert base / 2 <= delay <= base  # equal jitter
    assert state.attempts == 5


def test_retry_after_is_honoured_and_capped():
    state = RetryPolicy(max_retry_after=10, max_elapsed=1000).start(now=0)
    assert state.next_delay(retry_after=3, now=0) == 3
    assert state.next_delay(retry_after=500, now=0) == 10


def test_time_budget_stops_retries():
    state = RetryPolicy(max_elapsed=5).start(now=0)
    assert state.next_delay(retry_after=4, now=0) == 4
    assert state.next_delay(retry_after=4, now=4) is None


def test_take_batch_takes_the_longest_fitting_prefix():
    from collections import deque

    from analytics_sdk.delivery.batching import take_batch

    queue = deque([b"a" * 10] * 5)
    assert take_batch(queue, 3) == [b"a" * 10] * 3 and len(queue) == 2
    queue = deque([b"1" * 400, b"2" * 400, b"3" * 400, b"4"])
    batch = take_batch(queue, 10, max_bytes=1000)
    assert batch == [b"1" * 400, b"2" * 400]
    assert list(queue) == [b"3" * 400, b"4"]  # the rest is back at the front, in order
    assert len(build_body(batch, "2024-01-01T00:00:00.000000+00:00")) <= 1000
    huge = deque([b"x" * 5000, b"y"])
    assert take_batch(huge, 10, max_bytes=1000) == [b"x" * 5000]  # one message always goes, alone
    assert take_batch(deque(), 10) == []
