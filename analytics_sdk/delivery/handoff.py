"""Turn-taking for the GIL between an uploader and the application's threads.

With CPython's GIL, each stretch of Python the uploader runs stalls whichever
application call wants the GIL meanwhile. Left to CPython, the uploader keeps the
GIL from one blocking call to the next: settling a response, taking the next run
and building its request is one stretch of ~200 us on a 2-core machine, and with
~100 requests per 100,000 calls those stretches set the calls' p99.9.

So while calls come in fast, the uploader stops between the pieces of that
stretch (:meth:`Handoff.pause`), and the next call into the queue gives it the GIL
back (:meth:`Handoff.due`, then :meth:`Handoff.give_turn`): each call then waits
for one piece at most. ``time.sleep(0)`` cannot do this reliably: on Linux it
sleeps for the timer slack (~57 us measured here), and whether the other thread
runs meanwhile is luck. Locks can: the uploader waits on one that the caller
releases, and the caller waits on another that the uploader releases once it runs.

Every turn gets fresh locks, each released at most once, so a side that gave up
waiting (its wait is bounded) leaves nothing behind for a later turn. The bounds
are on the lock waits; getting the GIL back afterwards is CPython's business (up
to its 5 ms switch interval if the other side runs Python meanwhile), which is
why the uploader pauses only for callers that are calling in quick succession.

Pure thread logic, no I/O. Measured with benchmarks/compare.py (README, "Performance").
"""

from __future__ import annotations

import sys
import threading
from typing import List, Optional, Tuple

__all__ = ["Handoff", "Turn", "PARK_MAX", "CALLER_MAX", "BUSY_GAP"]

# The most an uploader waits for a caller to give the GIL back. Callers in a busy
# loop come back within tens of microseconds.
PARK_MAX = 0.0005
# The most a caller waits for the uploader to start running (normally ~10-40 us).
CALLER_MAX = 0.001
# Callers count as busy when, since the uploader last looked, events came in at
# least this often (seconds per event): then the next two calls are near.
BUSY_GAP = 200e-6

# (the lock a paused uploader waits on, or None for a lingering one; the lock the caller waits on)
Turn = Tuple[Optional[threading.Lock], threading.Lock]


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL: nothing to take turns for."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


class Handoff:
    """Where one destination's uploader and the callers of ``put`` take turns.

    Two ways a caller gives the uploader its turn: it resumes an uploader paused
    between two pieces of a request, or, when its event completes the run a
    lingering uploader waits for, it lets that uploader start at once rather than
    after CPython's 5 ms switch interval. Either way the caller then waits (GIL
    released) until the uploader runs again."""

    __slots__ = ("_parked", "parked_at", "lingering", "_waiting", "_seen")

    def __init__(self) -> None:
        self._parked: Optional[threading.Lock] = None  # what a paused uploader waits on
        self.parked_at = 0  # how many events had been queued when it paused
        self.lingering = False  # (queue's lock) an uploader waits for a run to fill
        self._waiting: List[threading.Lock] = []  # the caller waiting for the uploader to run (0 or 1)
        self._seen: Tuple[int, float] = (0, 0.0)  # (events queued, when) at the uploader's last look

    @property
    def parked(self) -> bool:
        """Whether an uploader waits in :meth:`pause` for a caller."""
        return self._parked is not None

    # -- uploader side --------------------------------------------------------------

    def callers_busy(self, enqueued: int, now: float) -> bool:
        """Whether callers have been calling in quick succession since the last look:
        only then is a call near that will give a pause its turn back."""
        seen_events, seen_at = self._seen
        self._seen = (enqueued, now)
        calls = enqueued - seen_events
        return calls >= 2 and now - seen_at <= calls * BUSY_GAP

    def pause(self, enqueued: int) -> bool:
        """Let callers run, until one of them gives the turn back or PARK_MAX passes.
        True when a caller resumed it. ``enqueued``: see :meth:`due`."""
        if self._parked is not None:  # another uploader of the same queue is already waiting
            return False
        parked = _held_lock()
        self.parked_at = enqueued
        self._parked = parked
        resumed = parked.acquire(timeout=PARK_MAX)
        self._parked = None  # (a caller that took it already and releases it later: harmless)
        self.release_waiting_caller()
        return resumed

    def release_waiting_caller(self) -> None:
        """The uploader runs again: a caller waiting for that may queue for the GIL."""
        try:
            waiter = self._waiting.pop()  # atomic: two uploaders never release one lock twice
        except IndexError:
            return
        waiter.release()

    def wake(self) -> None:
        """(queue's lock held) A flush or a shutdown wants the work done: end a pause now."""
        parked, self._parked = self._parked, None
        if parked is not None:
            parked.release()

    # -- caller side ----------------------------------------------------------------

    def due(self, enqueued: int, run_complete: bool) -> Optional[Turn]:
        """(queue's lock held) The turn this call should give the uploader, or None;
        pass it to :meth:`give_turn` once the lock is released.

        A paused uploader is not resumed by the call its last piece stalled (that
        call was on its way into the queue when the uploader paused, and has waited
        once already), but by the next one."""
        parked = self._parked
        if parked is not None:
            if enqueued - self.parked_at < 2:
                return None
            self._parked = None  # one caller per pause
        elif run_complete and self.lingering:
            self.lingering = False  # one caller per wait (the caller notified it)
        else:
            return None
        waiter = _held_lock()
        del self._waiting[:]  # (a caller before us that gave up waiting)
        self._waiting.append(waiter)
        return parked, waiter

    @staticmethod
    def give_turn(turn: Turn) -> None:
        """Let the uploader run (resume it if paused), and wait until it does."""
        parked, waiter = turn
        if parked is not None:
            parked.release()  # handed out once, by due(): released once
        # Waiting here releases the GIL; once the uploader runs it releases this lock,
        # and this call then waits for the GIL like any other thread, until the
        # uploader's next blocking call or pause.
        waiter.acquire(timeout=CALLER_MAX)
