"""Turn-taking between the uploader and the callers (delivery/handoff.py), with real threads.

The hand-off's benefit is a speed figure (benchmarks/compare.py, README "Performance");
these tests check what it must never do: hang either side, give turns in the wrong
order, leave a stale release for a later turn, pause a caller's own thread, or hold
up a flush, a shutdown or an uploader that is behind.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from analytics_sdk.delivery import handoff
from analytics_sdk.delivery.handoff import BUSY_GAP, Handoff, Turn


@pytest.fixture
def no_forced_switches() -> Iterator[None]:
    """Threads change hands only where the code blocks, as the hand-off intends."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    yield
    sys.setswitchinterval(saved)


@pytest.fixture
def patient_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pauses that outlast a loaded machine's scheduling delays (these tests' callers come late)."""
    monkeypatch.setattr(handoff, "PARK_MAX", 5.0)


def _wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _lingering_uploader(turn: Handoff, order: List[str], delay: float = 0.0) -> threading.Thread:
    """An uploader that waits for a run to fill, then (after ``delay``) runs one piece."""
    cond = threading.Condition()
    proceed = threading.Event()

    def run() -> None:
        with cond:
            turn.lingering = True
            cond.wait(5)
        time.sleep(delay)
        turn.release_waiting_caller()
        order.append("uploader")  # its next piece, before the caller goes on
        proceed.wait(5)

    thread = threading.Thread(target=run)
    thread.start()
    _wait_until(lambda: turn.lingering)
    thread.notify = lambda: (cond.acquire(), cond.notify(), cond.release())  # type: ignore[attr-defined]
    thread.proceed = proceed  # type: ignore[attr-defined]
    return thread


def test_a_caller_resumes_a_paused_uploader_and_waits_for_its_turn(no_forced_switches, patient_pauses):
    turn = Handoff()
    order: List[str] = []
    proceed = threading.Event()
    resumed: List[bool] = []

    def uploader() -> None:
        resumed.append(turn.pause(enqueued=10))
        order.append("uploader")  # its next piece, before the caller goes on
        proceed.wait(5)

    thread = threading.Thread(target=uploader)
    thread.start()
    _wait_until(lambda: turn.parked)
    assert turn.due(enqueued=11, run_complete=False) is None  # the call its last piece stalled
    given = turn.due(enqueued=12, run_complete=False)
    assert given is not None
    assert turn.due(enqueued=13, run_complete=False) is None  # one caller per pause
    Handoff.give_turn(given)
    order.append("caller")
    proceed.set()
    thread.join(5)
    assert order == ["uploader", "caller"]
    assert resumed == [True]


def test_a_caller_that_completes_the_run_lets_the_lingering_uploader_start_first(no_forced_switches):
    turn = Handoff()
    order: List[str] = []
    uploader = _lingering_uploader(turn, order)
    assert turn.due(enqueued=5, run_complete=False) is None  # still filling: no turn
    given = turn.due(enqueued=6, run_complete=True)
    assert given is not None and given[0] is None  # nothing to resume: it was notified
    uploader.notify()  # type: ignore[attr-defined]
    Handoff.give_turn(given)
    order.append("caller")
    uploader.proceed.set()  # type: ignore[attr-defined]
    uploader.join(5)
    assert order == ["uploader", "caller"]


def test_a_caller_that_gave_up_waiting_leaves_nothing_for_the_next_turn(no_forced_switches, monkeypatch):
    """Found in review: with one lock shared by every turn, the late release for a
    caller that had given up let every later caller through at once, and the
    hand-off silently stopped working."""
    turn = Handoff()
    turn.lingering = True
    given = turn.due(enqueued=1, run_complete=True)
    assert given is not None
    started = time.monotonic()
    Handoff.give_turn(given)  # nobody runs: bounded (CALLER_MAX is 1 ms), never a hang
    assert time.monotonic() - started < 1.0
    turn.release_waiting_caller()  # the uploader comes, late
    monkeypatch.setattr(handoff, "CALLER_MAX", 5.0)  # from here, the caller waits for its uploader
    order: List[str] = []
    uploader = _lingering_uploader(turn, order, delay=0.05)
    given = turn.due(enqueued=2, run_complete=True)
    assert given is not None
    uploader.notify()  # type: ignore[attr-defined]
    Handoff.give_turn(given)  # waits for this turn's uploader, not for the stale release
    order.append("caller")
    uploader.proceed.set()  # type: ignore[attr-defined]
    uploader.join(5)
    assert order == ["uploader", "caller"]


def test_a_caller_that_resumes_just_as_the_pause_times_out_is_answered_and_leaves_nothing_behind(
    no_forced_switches, monkeypatch
):
    monkeypatch.setattr(handoff, "PARK_MAX", 0.05)
    turn = Handoff()
    results: List[bool] = []
    thread = threading.Thread(target=lambda: results.append(turn.pause(enqueued=10)))
    thread.start()
    _wait_until(lambda: turn.parked)
    hold_until = time.monotonic() + 0.2  # keep the GIL well past PARK_MAX: the pause times out meanwhile
    while time.monotonic() < hold_until:
        pass
    assert turn.parked  # timed out, but it has not had the GIL to notice
    given = turn.due(enqueued=12, run_complete=False)
    assert given is not None
    Handoff.give_turn(given)  # released once the uploader runs, which it now does
    thread.join(5)
    assert results == [False]
    assert not turn.parked and turn._waiting == []
    monkeypatch.setattr(handoff, "PARK_MAX", 0.01)
    assert turn.pause(enqueued=20) is False  # no stray release lets the next pause through


def test_a_pause_nobody_answers_ends_after_its_bound():
    turn = Handoff()
    started = time.monotonic()
    assert turn.pause(enqueued=1) is False
    assert time.monotonic() - started < 1.0  # bounded (PARK_MAX is 0.5 ms), never a hang
    assert not turn.parked


def test_a_flush_or_shutdown_ends_a_pause_at_once(patient_pauses):
    turn = Handoff()
    results: List[bool] = []
    thread = threading.Thread(target=lambda: results.append(turn.pause(enqueued=1)))
    thread.start()
    _wait_until(lambda: turn.parked)
    turn.wake()
    thread.join(2)  # PARK_MAX is 5 s here
    assert not thread.is_alive() and results == [True]
    turn.wake()  # nothing parked: nothing happens


def test_callers_count_as_busy_only_when_calling_in_quick_succession():
    turn = Handoff()
    assert not turn.callers_busy(0, 100.0)
    assert turn.callers_busy(100, 100.0 + 100 * BUSY_GAP / 2)  # a tight loop
    assert not turn.callers_busy(101, 101.0)  # one call in a second
    assert not turn.callers_busy(200, 102.0)  # 99 calls in a second: 10 ms apart
    assert turn.callers_busy(220, 102.0005)


def test_turns_taken_at_random_from_both_sides_never_hang_and_leave_nothing_behind():
    """Callers arriving just as pauses time out, callers that give up, uploaders that
    come late: whatever the interleaving, both sides go on, and afterwards a pause
    waits again and a turn is given only when due."""
    turn = Handoff()
    stop = time.monotonic() + 1.0
    pauses: List[bool] = []
    turns = [0]
    rng = random.Random(7)

    def uploader() -> None:
        enqueued = 0
        while time.monotonic() < stop:
            enqueued += 2
            pauses.append(turn.pause(enqueued))
            if rng.random() < 0.3:
                time.sleep(0.0003)  # a slow piece: callers give up waiting

    def caller() -> None:
        enqueued = 0
        while time.monotonic() < stop:
            enqueued += rng.choice((1, 2, 3))
            given = turn.due(enqueued + 10**6, run_complete=False)
            if given is not None:
                Handoff.give_turn(given)
                turns[0] += 1
            if rng.random() < 0.5:
                time.sleep(0.0002)

    threads = [threading.Thread(target=uploader)] + [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert any(pauses) and turns[0] > 0  # both kinds of turn happened
    assert not turn.parked
    assert turn.pause(enqueued=1) is False  # nobody resumed it: no stray release lets it through


# -- the consumer: who pauses, and when --------------------------------------------------------


def _record_pauses(monkeypatch: pytest.MonkeyPatch) -> List[Tuple[str, bool]]:
    """(thread name, resumed) of every pause of any uploader."""
    seen: List[Tuple[str, bool]] = []
    pause = Handoff.pause

    def recorded(self: Handoff, enqueued: int) -> bool:
        resumed = pause(self, enqueued)
        seen.append((threading.current_thread().name, resumed))
        return resumed

    monkeypatch.setattr(Handoff, "pause", recorded)
    return seen


def _record_turns(monkeypatch: pytest.MonkeyPatch) -> List[Turn]:
    seen: List[Turn] = []
    give_turn = Handoff.give_turn

    def recorded(turn: Turn) -> None:
        seen.append(turn)
        give_turn(turn)

    monkeypatch.setattr(Handoff, "give_turn", staticmethod(recorded))
    return seen


def test_a_busy_caller_and_the_uploader_take_turns_and_every_event_arrives_once(collector, make_client, monkeypatch):
    client = make_client(max_queue_size=30_000)
    sent = [client.track("u", "Warm Up")[1]["messageId"]]  # the collector's first request is slow
    assert client.flush(timeout=30)
    pauses = _record_pauses(monkeypatch)
    for i in range(6_000):
        sent.append(client.track(f"user-{i % 50}", "Order Completed", {"i": i})[1]["messageId"])
        until = time.perf_counter() + 0.0001  # the application's own work between calls, GIL held
        while time.perf_counter() < until:
            pass
    assert client.flush(timeout=60)
    assert collector.wait_for(6_001, timeout=30)
    stored = [event["messageId"] for event in collector.events()]
    assert sorted(stored) == sorted(sent)  # each once
    assert pauses, "the uploader never paused for the callers"
    assert any(resumed for _, resumed in pauses), "no caller ever gave the uploader its turn back"
    assert {name for name, _ in pauses} == {"analytics_sdk-uploader"}


def test_the_caller_that_completes_the_run_gives_the_lingering_uploader_its_turn(collector, make_client, monkeypatch):
    client = make_client(upload_size=10, upload_interval=5)
    consumer = client._single.consumer
    turns = _record_turns(monkeypatch)
    client.track("u", "E")
    _wait_until(lambda: consumer._handoff.lingering)  # waiting up to 5 s for 10 events
    for _ in range(8):
        client.track("u", "E")
    assert turns == []
    client.track("u", "E")  # the tenth
    assert len(turns) == 1 and turns[0][0] is None
    assert client.flush(timeout=10) and len(collector.events()) == 10


def test_sync_mode_never_pauses_the_callers_own_thread(collector, make_client, monkeypatch):
    client = make_client(sync_mode=True)
    pauses = _record_pauses(monkeypatch)
    for i in range(20):
        assert client.track("u", "E", {"i": i})[0]
    assert len(collector.events()) == 20
    assert pauses == []


def test_no_pause_when_callers_are_slow_behind_a_flush_or_shutdown_or_when_the_uploader_is_behind(
    faulty_collector, make_client, monkeypatch
):
    """This thread plays an uploader between two pieces of work, while the real one
    waits on a collector that never answers."""
    stalled = faulty_collector(stall=True)
    client = make_client(host=stalled.url, max_queue_size=1_000, upload_size=10, timeout=30)
    consumer = client._single.consumer
    pauses = _record_pauses(monkeypatch)
    me = threading.current_thread().name

    def pauses_now(before: Optional[Callable[[], None]] = None) -> int:
        """Pauses of this thread at a piece boundary right after a few quick calls."""
        consumer._let_callers_in()  # a look (it may pause): what came before does not count
        for _ in range(20):  # well within 20 * BUSY_GAP, that pause included
            assert client.track("u", "E")[0]
        if before is not None:
            before()
        count = len([p for p in pauses if p[0] == me])
        consumer._let_callers_in()
        return len([p for p in pauses if p[0] == me]) - count

    client.track("u", "E")
    _wait_until(lambda: consumer._progress.dequeued == 1)  # the real uploader is stuck sending it
    assert pauses_now() == 0  # not an uploader's thread (sync_mode, an exit's inline drain)
    consumer._uploaders.add(threading.get_ident())
    try:
        assert pauses_now() == 1  # keeping up, callers busy: it pauses (nobody resumes it here)

        consumer._let_callers_in()
        client.track("u", "E")
        time.sleep(0.05)
        client.track("u", "E")
        assert len([p for p in pauses if p[0] == me]) == 1
        consumer._let_callers_in()  # two calls 50 ms apart: nobody would come back soon
        assert len([p for p in pauses if p[0] == me]) == 1

        def flushing() -> None:
            consumer._flushing += 1

        assert pauses_now(flushing) == 0
        consumer._flushing -= 1

        def stopping() -> None:
            consumer._stopping = True

        assert pauses_now(stopping) == 0
        consumer._stopping = False

        for _ in range(consumer._half_full):
            assert client.track("u", "E")[0]
        assert len(consumer._queue) >= consumer._half_full
        assert pauses_now() == 0  # behind: taking turns would cost callers refused events
    finally:
        consumer._uploaders.discard(threading.get_ident())


def test_a_flush_or_a_shutdown_ends_an_uploaders_pause(faulty_collector, make_client, monkeypatch):
    monkeypatch.setattr(handoff, "PARK_MAX", 5.0)
    stalled = faulty_collector(stall=True)
    client = make_client(host=stalled.url, upload_size=10, timeout=30)
    consumer = client._single.consumer
    pauses = _record_pauses(monkeypatch)
    client.track("u", "E")
    _wait_until(lambda: consumer._progress.dequeued == 1)  # the real uploader is stuck sending it
    for end in (lambda: consumer.flush(timeout=0.05), lambda: client.shutdown(timeout=0.05)):

        def piece_boundary() -> None:  # a second uploader, between two pieces of work
            consumer._uploaders.add(threading.get_ident())
            consumer._let_callers_in()
            for _ in range(3):
                client.track("u", "E")
            consumer._let_callers_in()

        helper = threading.Thread(target=piece_boundary, name="second-uploader")
        helper.start()
        _wait_until(lambda: consumer._handoff.parked)
        end()
        helper.join(2)  # PARK_MAX is 5 s here
        assert not helper.is_alive()
    assert [p for p in pauses if p[0] == "second-uploader"] == [("second-uploader", True)] * 2
