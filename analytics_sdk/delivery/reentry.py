"""Is this call a signal handler that interrupted the SDK on the same thread?

Python runs signal handlers on the main thread between two bytecodes, so a
handler that calls ``track()`` or ``flush()`` may have interrupted that very
thread inside the queue's critical section: waiting for the lock would wait for
itself, for ever. Asked only when the lock is not free at once, so the common
call pays nothing: the answer is whether an object of ours is on this thread's
stack below the caller's code (the frame that holds, or may hold, its lock). A
consumer's helpers (its uploader, batcher, backlog: each has a ``consumer``
attribute) take its lock in frames of their own, so their frames count as its.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any, Optional

__all__ = ["in_signal_handler_over"]


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


def _of(owner: Any, frame: FrameType) -> bool:
    """Whether ``frame`` is a method of ``owner`` or of one of its helpers in this package."""
    me = frame.f_locals.get("self")
    if me is owner:
        return True
    return me is not None and type(me).__module__.startswith(_PACKAGE) and getattr(me, "consumer", None) is owner


_PACKAGE = __name__.rpartition(".")[0] + "."  # analytics_sdk.delivery.
