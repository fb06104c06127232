"""Flush bookkeeping (pure): the low-water mark over queued, taken and held events."""

from analytics_sdk.delivery.progress import InFlight, Part, Progress


def test_low_water_is_the_oldest_unfinished_sequence_number():
    progress = Progress()
    progress.enqueued = 10
    first = progress.take(1, [b"a", b"b", b"c"])  # seq 0-2
    second = progress.take(2, [b"d", b"e"])  # seq 3-4
    assert (first.first_seq, second.first_seq, first.token) == (0, 3, 1)
    assert progress.low_water() == 0 and not progress.done(1)
    del progress.in_flight[1]  # the first batch reached its outcomes
    assert progress.low_water() == 3 and progress.done(3) and not progress.done(4)
    # Events held back for a throttled user keep the mark where their batch started.
    progress.in_flight[7] = InFlight(first_seq=3, parts=[Part([b"e"])], token=7)
    del progress.in_flight[2]
    assert progress.low_water() == 3
    del progress.in_flight[7]
    assert progress.low_water() == 5 and progress.done(5) and not progress.done(10)
