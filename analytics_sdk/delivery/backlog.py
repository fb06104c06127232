"""Where accepted events wait for an uploader: the backlog interface and the memory backlog.

A consumer (``consumer.py``) keeps every accepted event first in an in-memory
queue, under its lock. What happens next is the backlog's: the memory backlog
hands the queue's runs to the uploaders; the spool backlog (``spool_backlog.py``)
moves them to SQLite and hands out rows claimed from there. Everything else (the
lock, the uploader loop, retries, holds, flush bookkeeping, shutdown reports) is
the consumer's, the same for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Protocol, Tuple

from . import prefork
from .callbacks import in_user_code
from .clock import monotonic
from .exit_delivery import exit_timeout_of
from .progress import InFlight
from .runs import RunQueue

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Backlog", "MemoryBacklog"]


class Backlog(Protocol):
    """What a consumer asks of its backlog. "(lock held)" methods run under the consumer's lock."""

    def bind(self, consumer: "Consumer") -> None:
        """Belong to ``consumer`` (may put a ``put`` of its own in front of the consumer's)."""

    def made_lock(self, lock: Any) -> None:
        """The consumer (re)made its lock: make any condition of the backlog's on it."""

    def reset(self) -> None:
        """Fresh state (at construction and in a fork child)."""

    def open(self) -> None:
        """Construction done: e.g. adopt what an earlier process left, and start sending it."""

    def new_queue(self) -> Any:
        """The in-memory queue: ``append(item)`` says whether to hand the GIL over;
        ``take()`` pops a request's worth."""

    def refusal(self) -> Optional[str]:
        """(lock held) Why a new event cannot be accepted (the consumer is open), or None."""

    def workers(self) -> List[Tuple[str, Callable[[], None]]]:
        """Threads of the backlog's own to start before the uploaders (name, target)."""

    def next_record(self, token: int) -> Optional[InFlight]:
        """(an uploader) Wait for the next record to send; None when stopping with nothing left."""

    def settle(self, record: InFlight, crashed: bool) -> None:
        """(an uploader) ``record`` reached its outcomes (or a deadline, or crashed the uploader)."""

    def has_work(self) -> bool:
        """(lock held) Whether something beyond the queue and the holds waits for an uploader."""

    def wake(self) -> None:
        """(lock held) A flush or a shutdown wants everything now: stop waiting for more."""

    def done_without_waiting(self, target: int) -> bool:
        """(lock held) Whether everything before ``target`` reached an outcome, asked
        where waiting is not possible (on_error, a signal handler)."""

    def wait_flushed(self, target: int, deadline: float) -> bool:
        """Wait until everything before ``target`` reached an outcome (or is safely stored)."""

    def taken(self, count: int) -> None:
        """(lock held) A shutdown took ``count`` events off the queue to report them."""

    def drain_without_threads(self) -> None:
        """At shutdown, with no live thread: send (or store) here what can be."""

    def tidy(self) -> None:
        """At shutdown, after the wait: last bookkeeping; never raises."""

    def send_at_exit(self) -> None:
        """An event was queued after the exit delivery began, when no thread may start."""


class MemoryBacklog:
    """Events wait in the consumer's queue, in request-sized runs (``runs.py``)."""

    def bind(self, consumer: "Consumer") -> None:
        self.consumer = consumer

    def made_lock(self, lock: Any) -> None:
        pass

    def reset(self) -> None:
        pass

    def open(self) -> None:
        pass

    def new_queue(self) -> RunQueue:
        """Runs up to the backlog size: while the uploader is busy, events gather into
        full requests; when it is idle it takes a run at upload_size (linger.py)."""
        c = self.consumer
        return RunQueue(c.backlog_upload_size, c.max_batch_bytes - c.envelope)

    def refusal(self) -> Optional[str]:
        return None

    def workers(self) -> List[Tuple[str, Callable[[], None]]]:
        return []

    def next_record(self, token: int) -> Optional[InFlight]:
        return self.consumer.batcher.next_record(token, linger=True)

    def settle(self, record: InFlight, crashed: bool) -> None:
        pass

    def has_work(self) -> bool:
        return False

    def wake(self) -> None:
        pass

    def done_without_waiting(self, target: int) -> bool:
        return self.consumer.progress.done(target)

    def wait_flushed(self, target: int, deadline: float) -> bool:
        with self.consumer.lock:
            return self.consumer.wait_done(target, deadline)

    def taken(self, count: int) -> None:
        pass

    def drain_without_threads(self) -> None:
        c = self.consumer
        if c.deferred and not prefork.took_backlog():
            # (uWSGI master) A worker took the backlog: it is that worker's to send.
            with c.lock:
                c.progress.dequeued += len(c.queue)
                c.queue.clear()
                c.changed.notify_all()
        elif not c.starter.alive():
            c.uploader.drain_inline()

    def tidy(self) -> None:
        pass

    def send_at_exit(self) -> None:
        """The interpreter refuses new threads (an atexit handler of the application's
        that runs after ours, on Python 3.12+): send on the caller's thread, within the
        exit deadline, and report what could not be sent."""
        if in_user_code():
            return
        c = self.consumer
        with c.lock:
            if c.deadline is None:
                c.deadline = monotonic() + exit_timeout_of(c)
        c.uploader.drain_inline()
        with c.lock:
            stranded = list(c.queue)
            c.progress.dequeued += len(stranded)
            c.queue.clear()
        if stranded:
            c.outcomes.drop("shutdown_timeout", stranded, "still queued when the exit deadline passed")

