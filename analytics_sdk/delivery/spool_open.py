"""Opening a connection on a real thread of its own, waited for with a bound.

SQLite is not fork-safe: a SQLite mutex that another thread of the parent held at
the moment of a fork stays locked for ever in the child, and the child's first
``sqlite3.connect()`` would wait for it for ever. So spool.py opens a fork child's
connection here: on a thread of the operating system (even once gevent or eventlet
patched threading, where a greenlet stuck in C would stop every greenlet), waited
for until a limit, after which the caller treats the spool as down.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from .clock import monotonic
from .green import os_lock, start_os_thread

__all__ = ["BoundedOpen"]


class BoundedOpen:
    """``connect()`` running on its own thread. ``guard`` is held while the thread is
    inside it, for a fork to wait on: our own open must not be what a child inherits."""

    def __init__(self, connect: Callable[[], Any], limit: float) -> None:
        self.started = monotonic()
        self.gives_up_at = self.started + limit  # past it, the open is taken to be stuck
        self.guard = os_lock()
        self.done = False  # set by the opening thread, last
        self.result: Any = None
        self.error: Optional[BaseException] = None
        try:
            start_os_thread(self._run, connect)
        except RuntimeError as exc:  # no thread can start (a limit; interpreter shutdown)
            self.error = exc
            self.done = True

    def _run(self, connect: Callable[[], Any]) -> None:
        try:
            with self.guard:
                self.result = connect()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            self.error = exc
        finally:
            self.done = True

    def wait(self, deadline: Optional[float]) -> bool:
        """Whether the open is done, waiting until ``gives_up_at`` and ``deadline``.
        Polls with time.sleep, looked up at each use: gevent's and eventlet's let the
        other greenlets run (when ``time`` is patched too), and threads and both kinds
        of greenlet share no other primitive we can wait on."""
        until = self.gives_up_at if deadline is None else min(self.gives_up_at, deadline)
        pause = 0.001
        while not self.done:
            left = until - monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        return True
