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
