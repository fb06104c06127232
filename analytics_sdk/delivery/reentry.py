"""Is this call a signal handler that interrupted the SDK on the same thread?

Python runs signal handlers on the main thread between two bytecodes, so a
handler that calls ``track()`` or ``flush()`` may have interrupted that very
thread inside the queue's critical section: waiting for the lock would wait for
itself, for ever. Asked only when the lock is not free at once, so the common
call pays nothing: the answer is whether an object of ours is on this thread's
stack below the caller's code (the frame that holds, or may hold, its lock). A
consumer's helpers (its uploader, batcher, backlog: each has a ``consumer``
attribute) take its lock in frames of their own, so their frames count as its.

Smaller bookkeeping (counters, outcome callbacks) uses a :class:`Section`, which
needs no stack walk: it knows when its own thread is already inside.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from types import FrameType
from typing import Any, Callable, Deque, Optional, Set, Tuple, TypeVar

__all__ = ["in_signal_handler_over", "wait_unless_reentered", "interrupts_the_sdk", "cannot_wait",
           "calls_the_application", "hands_to_the_application", "Section"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("analytics_sdk")


def in_signal_handler_over(owner: Any) -> bool:
    """Whether the main thread is running code (a signal handler) on top of a method of ``owner``."""
    if threading.current_thread() is not threading.main_thread():
        return False  # only the main thread runs handlers; other threads may wait
    frame: Optional[FrameType] = sys._getframe(2)  # skip this function and the asking method
    while frame is not None and _of(owner, frame):
        frame = frame.f_back  # the asking method's own callers (a subclass calling super(), a helper)
    while frame is not None:
        if _of(owner, frame):
            return True
        frame = frame.f_back
    return False


def wait_unless_reentered(lock: Any, owner: Any) -> bool:
    """(``lock`` was busy) Take it, and True; or False, not waiting, in a signal handler
    over a method of ``owner``: the caller leaves its work to the interrupted code."""
    if in_signal_handler_over(owner):
        return False
    lock.acquire()
    return True


def interrupts_the_sdk() -> bool:
    """Whether this call comes from code (a signal handler) that runs on top of the
    SDK's own code on the main thread. Whatever it would wait for (an uploader, a lock,
    the spool) may be waiting for the code it interrupted, so it must not wait. A
    stack walk: asked once per flush or shutdown, not per event."""
    if threading.current_thread() is not threading.main_thread():
        return False
    frame: Optional[FrameType] = sys._getframe(1)
    while True:
        while frame is not None and _in_package(frame):
            frame = frame.f_back  # the asking call (or code of ours that called the application on purpose)
        while frame is not None and not _in_package(frame):
            frame = frame.f_back  # application code
        if frame is None:
            return False
        if frame.f_code not in _HANDS_OVER:
            return True  # code of ours under application code it did not call: interrupted


_NOT_WAITING = {
    "flush": "does not wait",
    "shutdown": "cannot wait: the client stays open, and what is queued is delivered at exit",
}
_warned: Set[str] = set()  # (one warning each: a handler may run a thousand times a second)


def cannot_wait(call: str) -> bool:
    """Whether ``call`` (``flush``, ``shutdown``) must return at once: see
    :func:`interrupts_the_sdk`. Says so once per process."""
    if not interrupts_the_sdk():
        return False
    if call not in _warned:
        _warned.add(call)
        log.warning("analytics_sdk: %s() in a signal handler that interrupted the SDK %s", call, _NOT_WAITING[call])
    return True


def calls_the_application(function: F) -> F:
    """Mark ``function`` as a way in for application code, not code it can interrupt:
    the SDK's SIGTERM handler in front of the application's own, which runs
    whatever the main thread was doing (its ``flush()`` there must wait as usual)."""
    _WAYS_IN.add(function.__code__)
    return function


def hands_to_the_application(function: F) -> F:
    """Mark ``function`` as code of ours that calls application code on purpose, holding
    no lock (a plugin, a callback, ``on_error``): what that code calls is no interruption."""
    _HANDS_OVER.add(function.__code__)
    return function


_WAYS_IN: Set[Any] = set()
_HANDS_OVER: Set[Any] = set()


def _in_package(frame: FrameType) -> bool:
    if frame.f_code in _WAYS_IN:
        return False
    name = frame.f_globals.get("__name__") or ""
    return name == _ROOT or name.startswith(_ROOT_PREFIX)


def _of(owner: Any, frame: FrameType) -> bool:
    """Whether ``frame`` is a method of ``owner`` or of one of its helpers in this package."""
    me = frame.f_locals.get("self")
    if me is owner:
        return True
    return me is not None and type(me).__module__.startswith(_PACKAGE) and getattr(me, "consumer", None) is owner


_PACKAGE = __name__.rpartition(".")[0] + "."  # analytics_sdk.delivery.
_ROOT = __name__.partition(".")[0]  # analytics_sdk
_ROOT_PREFIX = _ROOT + "."


class Section:
    """A lock for short bookkeeping that a signal handler may need while its own
    thread is inside.

    A plain lock would make that handler wait for itself, for ever; an RLock alone
    would run the handler's update in the middle of the one it interrupted (a
    counter read before and written after would lose the handler's count).
    ``update(fn, *args)`` runs ``fn`` under the lock or, when this thread is already
    inside, queues it for the interrupted section to run as it leaves (``deferred``
    instead of ``fn`` if given). ``read(fn)`` runs at once: a reader changes nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # other threads wait; this thread's handlers get in
        self._inside = False  # (read and written under the lock only)
        self._later: Deque[Tuple[Callable[..., Any], Tuple[Any, ...]]] = deque()

    def update(self, fn: Callable[..., Any], *args: Any, deferred: Optional[Callable[..., Any]] = None) -> Any:
        """``fn(*args)``; None when queued behind the section this thread was interrupted in."""
        with self._lock:
            if self._inside:
                self._later.append((deferred or fn, args))
                return None
            try:
                self._inside = True
                return fn(*args)
            finally:
                self._leave()

    def _leave(self) -> None:
        later = self._later
        try:
            while True:
                while later:
                    queued, args = later.popleft()
                    queued(*args)
                self._inside = False
                if not later:  # (a handler may have queued one just before the line above)
                    return
                self._inside = True
        finally:
            self._inside = False  # (an exception above: the next update must not be queued for ever)

    def read(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()
