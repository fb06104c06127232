"""reentry.in_signal_handler_over: our frame under foreign code on the main thread."""

from __future__ import annotations

import threading
from typing import Callable, List

from analytics_sdk.delivery.reentry import in_signal_handler_over


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
