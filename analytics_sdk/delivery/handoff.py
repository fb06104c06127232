"""Turn-taking for the GIL between an uploader and the application's threads.

With CPython's GIL, each stretch of Python the uploader runs stalls whichever
application call wants the GIL meanwhile. Left to CPython, the uploader keeps the
GIL from one blocking call to the next: settling a response, taking the next run
and building its request is one stretch of ~200 us on a 2-core machine, and with
~100 requests per 100,000 calls those stretches set the calls' p99.9.

So the uploader stops between the pieces of that stretch (:meth:`Handoff.pause`),
and the application's next call into the queue gives it the GIL back
(:meth:`Handoff.resume`): each call then waits for one piece at most.
``time.sleep(0)`` cannot do this: on Linux it sleeps for the timer slack (~50 us
measured here) and does not make the other thread run. Two locks do: the
uploader waits on one until a caller releases it, and the caller waits on the
other until the uploader has the GIL again. Every wait has a short bound, so a
missed turn costs a fraction of a millisecond, never a hang.

Pure thread logic, no I/O. Measured with benchmarks/compare.py (README, "Performance").
"""

from __future__ import annotations

import threading

__all__ = ["Handoff", "PARK_MAX", "CALLER_MAX"]

# The most an uploader waits for a caller to give it the GIL back. Callers in a busy
# loop come back within tens of microseconds; this bounds what a pause costs when
# they stopped calling (the uploader pauses only when calls came in meanwhile).
PARK_MAX = 0.0005
# The most a caller waits for the uploader to take the GIL (normally ~10-40 us).
CALLER_MAX = 0.001


class Handoff:
    """Where one destination's uploader and the callers of ``put`` take turns.

    Two ways a caller gives the uploader its turn: it resumes an uploader paused
    between two pieces of a request, or, when its event completes the run a
    lingering uploader waits for, it lets that uploader start at once rather than
    after CPython's 5 ms switch interval. Either way the caller then waits (GIL
    released) until the uploader runs again."""

    __slots__ = ("_resume", "_taken", "parked", "parked_at", "lingering", "_caller_waits", "_resuming")

    def __init__(self) -> None:
        self._resume = threading.Lock()  # released by a caller: a paused uploader's turn
        self._resume.acquire()
        self._taken = threading.Lock()  # released by the uploader once it runs again
        self._taken.acquire()
        self.parked = False  # an uploader waits in pause() for a caller
        self.parked_at = 0  # how many events had been queued when it paused
        self.lingering = False  # (queue's lock) an uploader waits for a run to fill
        self._caller_waits = False  # a caller waits in give_turn() for ``_taken``
        self._resuming = False  # the due caller is to resume a paused uploader

    # -- uploader side --------------------------------------------------------------

    def pause(self, enqueued: int) -> bool:
        """Let callers run, until one of them gives the GIL back or PARK_MAX passes.
        True when a caller resumed it. ``enqueued``: see :meth:`due`."""
        if self.parked:  # another uploader of the same queue is already waiting
            return False
        self.parked_at = enqueued
        self.parked = True
        resumed = self._resume.acquire(timeout=PARK_MAX)
        self.parked = False
        if not resumed:
            # A caller may have released it after the wait timed out, before this
            # thread had the GIL to clear ``parked``: take that release too, so the
            # lock is held again whenever no uploader is parked.
            resumed = self._resume.acquire(blocking=False)
        self.running()
        return resumed

    def running(self) -> None:
        """The uploader has the GIL again: a caller waiting for that may queue for it."""
        if self._caller_waits:
            self._caller_waits = False
            try:
                self._taken.release()
            except RuntimeError:  # (a caller that gave up waiting left it released)
                pass

    # -- caller side ----------------------------------------------------------------

    def due(self, enqueued: int, run_complete: bool) -> bool:
        """(queue's lock held) Whether this call should give the uploader its turn;
        if so, call :meth:`give_turn` once the lock is released.

        A paused uploader is not resumed by the call its last piece stalled (that
        call was on its way into the queue when the uploader paused, and has waited
        once already), but by the next one."""
        if self.parked:
            resuming, due = True, enqueued - self.parked_at >= 2
        else:
            resuming, due = False, run_complete and self.lingering
        if due:
            self.parked = self.lingering = False  # one caller per pause or wait
            self._resuming = resuming
            self._caller_waits = True
        return due

    def give_turn(self) -> None:
        """Let the uploader run (resume it if paused), and wait until it does."""
        if self._resuming:  # (a lingering uploader was notified by the caller)
            self._resuming = False
            try:
                self._resume.release()
            except RuntimeError:  # (cannot happen while pause() keeps it held)
                pass
        # Waiting here releases the GIL; once the uploader runs it releases this lock,
        # and this call then waits for the GIL like any other thread, until the
        # uploader's next blocking call or pause.
        self._taken.acquire(timeout=CALLER_MAX)
