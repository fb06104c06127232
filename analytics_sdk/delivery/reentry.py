"""Is this call a signal handler that interrupted the SDK on the same thread?

Python runs signal handlers on the main thread between two bytecodes, so a
handler that calls ``track()`` or ``flush()`` may have interrupted that very
thread inside the queue's critical section: waiting for the lock would wait for
itself, for ever. Asked only when the lock is not free at once, so the common
call pays nothing: the answer is whether an object of ours is on this thread's
stack below the caller's code (the frame that holds, or may hold, its lock).
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
    while frame is not None and frame.f_locals.get("self") is owner:
        frame = frame.f_back  # the asking method's own callers (a subclass calling super())
    while frame is not None:
        if frame.f_locals.get("self") is owner:
            return True
        frame = frame.f_back
    return False
