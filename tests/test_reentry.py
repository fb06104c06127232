"""reentry: our frame under foreign code on the main thread (in_signal_handler_over,
interrupts_the_sdk), and a Section that a signal handler may enter on its own thread."""

from __future__ import annotations

import threading
from typing import Callable, List

import signal

import pytest

from analytics_sdk.delivery.reentry import Section, in_signal_handler_over, interrupts_the_sdk


class Owner:
    def ask(self) -> bool:
        return in_signal_handler_over(self)

    def holding(self, handler: Callable[[], bool]) -> bool:  # stands for put() interrupted by a handler
        return handler()


class Child(Owner):
    def ask(self) -> bool:
        return super().ask()


def test_a_plain_call_is_not_reentry():
    assert Owner().ask() is False


def test_a_subclass_calling_super_is_not_reentry():
    assert Child().ask() is False


def test_foreign_code_over_one_of_our_frames_is_reentry():
    owner = Owner()
    assert owner.holding(lambda: owner.ask()) is True
    child = Child()
    assert child.holding(lambda: child.ask()) is True


def test_another_objects_frame_does_not_count():
    first, second = Owner(), Owner()
    assert first.holding(lambda: second.ask()) is False


def test_only_the_main_thread_runs_signal_handlers():
    owner = Owner()
    seen: List[bool] = []
    thread = threading.Thread(target=lambda: seen.append(owner.holding(lambda: owner.ask())))
    thread.start()
    thread.join()
    assert seen == [False]


# -- the real engine: its helpers' frames are the consumer's --------------------------------

import pytest  # noqa: E402

from analytics_sdk.delivery.consumer import Consumer  # noqa: E402
from analytics_sdk.delivery.outcomes import Outcomes  # noqa: E402
from analytics_sdk.delivery.transport import Attempt  # noqa: E402
from analytics_sdk.wire import Segment  # noqa: E402


class _Accepting:
    timeout = 5.0

    def send(self, body: bytes, timeout: object = None) -> Attempt:
        return Attempt(200)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("helper", ["uploader", "batcher", "backlog", "stopper", "starter"])
def test_a_handler_over_an_engine_helper_that_holds_the_lock_does_not_wait_for_it(helper):
    """The engine's jobs live in helper objects (uploader, batcher, backlog...) that take
    the consumer's lock in frames of their own: a signal handler's put() on top of one
    must not wait for the lock that frame holds (it never would get it)."""
    destination = Segment("k", host="http://127.0.0.1:9")
    consumer = Consumer(destination, _Accepting(), Outcomes(None, destination))
    self = getattr(consumer, helper)  # noqa: F841 - this frame stands for the helper's method
    lock = consumer.lock
    lock.acquire()  # as the helper does, on the main thread, when the signal arrives
    # Should put() wait for the lock after all, the timer lets it have it: the test fails, never hangs.
    fired: List[bool] = []
    rescue = threading.Timer(5.0, lambda: (fired.append(True), lock.release()))
    rescue.start()
    try:
        handler = lambda: consumer.put(b'{"messageId":"m"}')  # noqa: E731 - the signal handler's frame
        assert handler() is None
        assert list(consumer.from_handlers) == [b'{"messageId":"m"}']  # the handler's way: no wait
    finally:
        rescue.cancel()
        rescue.join()
        if not fired:
            lock.release()
    assert consumer.shutdown(timeout=5)


# -- interrupts_the_sdk ---------------------------------------------------------------------


def test_a_call_from_application_code_does_not_interrupt_the_sdk():
    assert interrupts_the_sdk() is False  # (pytest's frames are no code of ours)


def test_application_code_run_on_top_of_sdk_code_on_the_main_thread_interrupts_it():
    assert Section().update(lambda: interrupts_the_sdk()) is True  # a handler over Section.update


def test_the_sdks_own_calls_on_top_of_the_asking_one_do_not_count():
    assert Section().update(interrupts_the_sdk) is False  # the SDK asking from its own code
    assert Section().read(lambda: Section().update(interrupts_the_sdk)) is True  # ... over the SDK
    seen: List[bool] = []
    worker = threading.Thread(target=lambda: seen.append(Section().update(lambda: interrupts_the_sdk())))
    worker.start()
    worker.join()
    assert seen == [False]  # only the main thread runs signal handlers


# -- Section, with a real signal ---------------------------------------------------------------


@pytest.fixture
def on_signal():
    """Run a given function as the SIGUSR1 handler (restored afterwards)."""
    handlers: List[Callable[[], None]] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: handlers[-1]())
    yield handlers.append
    signal.signal(signal.SIGUSR1, previous)


def test_an_update_from_a_handler_that_interrupted_one_waits_until_it_ends_and_counts(on_signal):
    section, counts, order = Section(), {"n": 0}, []

    def add(n: int) -> str:
        before = counts["n"]  # read before the signal, written after: an RLock alone would lose 10
        if n == 1:
            signal.raise_signal(signal.SIGUSR1)
        counts["n"] = before + n
        order.append(n)
        return "done"

    queued: List[object] = []
    on_signal(lambda: queued.append(section.update(add, 10)))
    assert section.update(add, 1) == "done"
    assert queued == [None]  # queued, not run inside the interrupted update
    assert order == [1, 10] and counts["n"] == 11


def test_a_handler_gets_its_deferred_function_and_a_read_runs_at_once(on_signal):
    section, calls = Section(), []
    on_signal(lambda: calls.append(("read", section.read(lambda: len(calls)))) or section.update(
        calls.append, "now", deferred=lambda what: calls.append("later: " + what)))
    section.update(lambda: signal.raise_signal(signal.SIGUSR1) or calls.append("outer"))
    assert calls == [("read", 0), "outer", "later: now"]


def test_another_thread_waits_for_the_section_rather_than_queueing():
    section, entered, release, order = Section(), threading.Event(), threading.Event(), []

    def hold() -> None:
        entered.set()
        release.wait(10)
        order.append("holder")

    holder = threading.Thread(target=section.update, args=(hold,))
    holder.start()
    assert entered.wait(10)
    waiter = threading.Thread(target=section.update, args=(order.append, "waiter"))
    waiter.start()
    release.set()
    holder.join(10)
    waiter.join(10)
    assert order == ["holder", "waiter"]


def test_an_update_that_raises_behind_the_interrupted_one_does_not_freeze_the_section(on_signal):
    section = Section()

    def fails() -> None:
        raise ValueError("a queued update failed")

    on_signal(lambda: section.update(fails))
    with pytest.raises(ValueError):
        section.update(lambda: signal.raise_signal(signal.SIGUSR1))  # the queued one raises as this one ends
    assert section.update(lambda: "ran") == "ran"  # not queued for ever behind a section nobody is in
