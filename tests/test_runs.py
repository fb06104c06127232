"""The run queue: events kept in request-sized runs, taken whole, in order."""

from __future__ import annotations

import pytest

from analytics_sdk.delivery.runs import RunQueue


def test_runs_fill_to_the_count_limit_and_keep_order():
    queue = RunQueue(max_count=3, max_bytes=1000)
    for i in range(8):
        queue.append(b"%d" % i)
    assert len(queue) == 8 and list(queue) == [b"%d" % i for i in range(8)]
    assert queue.take() == [b"0", b"1", b"2"]
    assert queue.take() == [b"3", b"4", b"5"]
    assert len(queue) == 2
    queue.append(b"8")  # joins the open run
    assert queue.take() == [b"6", b"7", b"8"]
    assert queue.take() == [] and len(queue) == 0


def test_runs_stay_within_the_byte_limit_commas_included():
    queue = RunQueue(max_count=100, max_bytes=10)
    for item in (b"aaa", b"bbb", b"c", b"dddd", b"e"):
        queue.append(item)
    first = queue.take()
    assert first == [b"aaa", b"bbb", b"c"]  # "aaa,bbb,c" is 9 bytes; ",dddd" would make 14
    assert queue.take() == [b"dddd", b"e"]


def test_a_run_is_never_over_the_limit_and_an_oversized_event_goes_alone():
    queue = RunQueue(max_count=100, max_bytes=10)
    items = [b"x" * n for n in (3, 3, 3, 12, 1, 9, 1)]
    for item in items:
        queue.append(item)
    runs = []
    while len(queue):
        runs.append(queue.take())
    assert [item for run in runs for item in run] == items
    for run in runs:
        assert len(run) == 1 or len(b",".join(run)) <= 10
    assert [b"x" * 12] in runs


def test_taking_the_open_run_starts_a_new_one():
    queue = RunQueue(max_count=5, max_bytes=1000)
    queue.append(b"a")
    assert queue.take() == [b"a"]
    queue.append(b"b")
    queue.append(b"c")
    assert queue.take() == [b"b", b"c"]


def test_clear_empties_everything():
    queue = RunQueue(max_count=2, max_bytes=1000)
    for item in (b"a", b"b", b"c"):
        queue.append(item)
    queue.clear()
    assert len(queue) == 0 and list(queue) == [] and queue.take() == []
    queue.append(b"d")
    assert queue.take() == [b"d"]


def test_append_says_when_a_run_is_complete_and_the_oldest_run_knows_it():
    queue = RunQueue(max_count=3, max_bytes=100)
    assert [queue.append(b"a"), queue.append(b"b")] == [False, False]
    assert not queue.oldest_complete()
    assert queue.append(b"c") is True  # full by count
    assert queue.oldest_complete()
    assert queue.append(b"d") is False  # starts the next run; the full one was reported
    queue.take()
    assert not queue.oldest_complete()
    assert queue.append(b"x" * 99) is True  # closes the open run by bytes: "d" + "," + 99 > 100
    assert queue.oldest_complete() and queue.take() == [b"d"]
    assert RunQueue(max_count=1, max_bytes=100).append(b"a") is True
    assert not RunQueue(max_count=3, max_bytes=100).oldest_complete()


def test_a_run_reads_like_the_list_of_its_events():
    items = [b'{"i":%d,"s":"%s"}' % (i, b"," * (i % 5)) for i in range(50)]  # commas inside events too
    queue = RunQueue(max_count=100, max_bytes=10_000)
    for item in items:
        queue.append(item)
    run = queue.take()
    assert len(run) == 50 and list(run) == items and run == items
    assert run[0] == items[0] and run[-1] == items[-1] and run[7] == items[7]
    assert run[3:17] == items[3:17] and run[::4] == items[::4] and run[-5:] == items[-5:] and run[30:10] == []
    with pytest.raises(IndexError):
        run[50]
    assert bytes(run.joined) == b",".join(items)


@pytest.mark.parametrize("count", [1, 2, 7])
def test_every_destination_sends_a_run_in_pieces_as_its_joined_body(count):
    # A run goes out as envelope + the run's own buffer (no copy); the bytes must be
    # exactly the body that joining the events gives.
    from analytics_sdk import Amplitude, Segment
    from analytics_sdk.wire import segment as segment_module
    from analytics_sdk.wire.mparticle import MParticleBatches

    items = [b'{"n":%d,"text":"%s"}' % (i, b"x" * i) for i in range(count)]
    queue = RunQueue(max_count=100, max_bytes=10_000)
    for item in items:
        queue.append(item)
    run = queue.take()
    assert type(run).__name__ == "Run"
    frozen = "2024-01-01T00:00:00.000000+00:00"
    original_now = segment_module.utc_now_iso
    segment_module.utc_now_iso = lambda: frozen  # Segment's body carries the time it is sent
    try:
        for destination in (Segment("k"), Amplitude("key"), MParticleBatches("key", "secret")):
            pieces = destination.body_parts(run)
            assert len(pieces) == 3, type(destination).__name__  # envelope, run buffer, envelope
            assert b"".join(bytes(piece) for piece in pieces) == destination.body(items), type(destination).__name__
            assert b"".join(bytes(piece) for piece in destination.body_parts(items)) == destination.body(items)
    finally:
        segment_module.utc_now_iso = original_now
