"""Turn-taking between the uploader and the callers (delivery/handoff.py), with real threads.

The hand-off's benefit is a speed figure (benchmarks/compare.py, README "Performance");
these tests check what it must never do: hang either side, lose the order of turns,
pause a caller's own thread, or hold up a flush.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from typing import Any, Iterator, List, Tuple

import pytest

from analytics_sdk.delivery import handoff
from analytics_sdk.delivery.handoff import Handoff


@pytest.fixture
def no_forced_switches() -> Iterator[None]:
    """Threads change hands only where the code blocks, as the hand-off intends."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    yield
    sys.setswitchinterval(saved)


def _wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_caller_resumes_a_paused_uploader_and_waits_for_its_turn(no_forced_switches):
    turn = Handoff()
    order: List[str] = []
    proceed = threading.Event()
    resumed: List[bool] = []

    def uploader() -> None:
        resumed.append(turn.pause(enqueued=10))
        order.append("uploader")  # its next piece, before the caller goes on
        proceed.wait(5)

    with_patience = handoff.PARK_MAX
    handoff.PARK_MAX = 5.0  # this test's caller comes late on purpose
    try:
        thread = threading.Thread(target=uploader)
        thread.start()
        _wait_until(lambda: turn.parked)
        assert not turn.due(enqueued=11, run_complete=False)  # the call its last piece stalled
        assert turn.due(enqueued=12, run_complete=False)
        assert not turn.due(enqueued=13, run_complete=False)  # one caller per pause
        turn.give_turn()
        order.append("caller")
    finally:
        handoff.PARK_MAX = with_patience
        proceed.set()
    thread.join(5)
    assert order == ["uploader", "caller"]
    assert resumed == [True]


def test_a_caller_that_completes_the_run_lets_the_lingering_uploader_start_first(no_forced_switches):
    turn = Handoff()
    order: List[str] = []
    cond = threading.Condition()
    proceed = threading.Event()

    def uploader() -> None:
        with cond:
            turn.lingering = True
            cond.wait(5)
            turn.lingering = False
            turn.running()
        order.append("uploader")
        proceed.wait(5)

    thread = threading.Thread(target=uploader)
    thread.start()
    _wait_until(lambda: turn.lingering)
    with cond:
        assert not turn.due(enqueued=5, run_complete=False)  # still filling: no turn
        assert turn.due(enqueued=6, run_complete=True)
        cond.notify()
    turn.give_turn()
    order.append("caller")
    proceed.set()
    thread.join(5)
    assert order == ["uploader", "caller"]


def test_a_caller_that_resumes_just_as_the_pause_times_out_is_still_answered(no_forced_switches):
    turn = Handoff()
    results: List[bool] = []
    thread = threading.Thread(target=lambda: results.append(turn.pause(enqueued=10)))
    thread.start()
    _wait_until(lambda: turn.parked)
    hold_until = time.monotonic() + 0.02  # keep the GIL well past PARK_MAX: the pause times out meanwhile
    while time.monotonic() < hold_until:
        pass
    assert turn.parked  # timed out, but it has not had the GIL to notice
    assert turn.due(enqueued=12, run_complete=False)
    turn.give_turn()
    thread.join(5)
    assert results == [True]  # the late release counts as the resume it was
    assert turn._resume.locked()  # and is not left behind to let the next pause through


def test_a_pause_nobody_answers_ends_after_its_bound():
    turn = Handoff()
    started = time.monotonic()
    assert turn.pause(enqueued=1) is False
    assert time.monotonic() - started < 1.0  # bounded (PARK_MAX is 0.5 ms), never a hang
    assert not turn.parked


def test_a_turn_given_to_an_uploader_that_never_runs_ends_after_its_bound():
    turn = Handoff()
    turn.lingering = True
    assert turn.due(enqueued=1, run_complete=True)
    started = time.monotonic()
    turn.give_turn()  # nobody will call running()
    assert time.monotonic() - started < 1.0


def test_turns_taken_at_random_from_both_sides_never_hang_and_leave_the_locks_consistent():
    """Callers arriving just as pauses time out, callers that give up, uploaders that
    never come: whatever the interleaving, both sides go on, and once it is over a
    pause waits again (the resume lock is held) and a turn is given only when due."""
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
            if turn.due(enqueued + 10**6, run_complete=False):
                turn.give_turn()
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
    assert turn._resume.locked() and not turn.parked
    assert turn.pause(enqueued=1) is False  # nobody resumed it: a stray release would let it through


# -- the consumer: who pauses, and when --------------------------------------------------------


def _record_pauses(monkeypatch: pytest.MonkeyPatch, client: Any) -> List[Tuple[str, int, bool]]:
    """(thread name, flushes waiting, resumed) of every pause of ``client``'s uploader."""
    consumer = client._single.consumer
    seen: List[Tuple[str, int, bool]] = []
    pause = Handoff.pause

    def recorded(self: Handoff, enqueued: int) -> bool:
        flushing = consumer._flushing
        resumed = pause(self, enqueued)
        seen.append((threading.current_thread().name, flushing, resumed))
        return resumed

    monkeypatch.setattr(Handoff, "pause", recorded)
    return seen


def test_a_busy_caller_and_the_uploader_take_turns_and_every_event_arrives_once(collector, make_client, monkeypatch):
    client = make_client(max_queue_size=30_000)
    pauses = _record_pauses(monkeypatch, client)
    sent = [client.track(f"user-{i % 50}", "Order Completed", {"i": i})[1]["messageId"] for i in range(20_000)]
    assert client.flush(timeout=60)
    assert collector.wait_for(20_000, timeout=30)
    stored = [event["messageId"] for event in collector.events()]
    assert sorted(stored) == sorted(sent)  # each once
    assert pauses, "the uploader never paused for the callers"
    assert any(resumed for _, _, resumed in pauses), "no caller ever gave the uploader its turn back"
    assert {name for name, _, _ in pauses} == {"analytics_sdk-uploader"}
    assert all(flushing == 0 for _, flushing, _ in pauses)  # a waiting flush wants the work done, not paused


def test_sync_mode_never_pauses_the_callers_own_thread(collector, make_client, monkeypatch):
    client = make_client(sync_mode=True)
    pauses = _record_pauses(monkeypatch, client)
    for i in range(20):
        assert client.track("u", "E", {"i": i})[0]
    assert len(collector.events()) == 20
    assert pauses == []


def test_an_uploader_that_is_behind_does_not_pause(faulty_collector, make_client, monkeypatch):
    """With the queue half full the uploader is behind: taking turns then would slow it
    further and cost the callers refused events, so it keeps the GIL's default sharing."""
    stalled = faulty_collector(stall=True)  # the uploader takes the first run, then waits on it
    client = make_client(host=stalled.url, max_queue_size=1_000, upload_size=10, timeout=30)
    consumer = client._single.consumer
    pauses = _record_pauses(monkeypatch, client)

    def ours() -> List[Tuple[str, int, bool]]:
        return [pause for pause in pauses if pause[0] == threading.current_thread().name]

    consumer._uploaders.add(threading.get_ident())  # this thread plays an uploader between two pieces
    try:
        client.track("u", "E")
        _wait_until(lambda: consumer._progress.dequeued == 1)  # the real uploader is stuck sending it
        client.track("u", "E")
        consumer._let_callers_in()
        assert len(ours()) == 1  # keeping up: it pauses (nobody resumes it here: PARK_MAX)
        for _ in range(consumer._half_full):
            assert client.track("u", "E")[0]
        assert len(consumer._queue) >= consumer._half_full
        consumer._let_callers_in()
        assert len(ours()) == 1  # behind: no pause
    finally:
        consumer._uploaders.discard(threading.get_ident())
