"""The writing half of the spool backlog: the write buffer, the writer thread, the spool's health.

Without ``spool_sync`` the caller's ``put`` only appends to the write buffer (the
consumer's in-memory queue); the writer thread moves the whole buffer into SQLite
at once. When the spool fails, a taken buffer is handed to the uploaders to send
from memory, and the spool is retried with backoff (``spool_backlog.py`` says
what the caller and the threads see then).
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, List, Optional, Sequence, Set, Tuple

from .batching import take_batch
from .clock import monotonic
from .progress import InFlight, Part
from .reentry import wait_unless_reentered
from .spool import Spool

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["SpoolWriter", "WriteBuffer", "CALLER_WAIT", "MAX_BACKOFF", "DOWN_POLL"]

log = logging.getLogger("analytics_sdk")

# The longest a caller's thread waits for the spool (our lock, or another
# connection's write lock) before the message goes the memory way.
CALLER_WAIT = 0.25
_FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0
DOWN_POLL = 0.05  # how often idle threads look at the write buffer while the spool is down


class WriteBuffer(collections.deque):
    """The spool's write buffer. Like the memory backlog's queue, ``append`` says when
    to hand the GIL over: every ``every`` events, so the writer thread keeps up."""

    def __init__(self, every: int, max_bytes: int, envelope: int) -> None:
        super().__init__()
        self.every = every
        self.max_bytes = max_bytes
        self.envelope = envelope

    def append(self, item: bytes) -> bool:  # type: ignore[override]
        super().append(item)
        return len(self) % self.every == 0

    def take(self) -> List[bytes]:
        """A request's worth, for the uploaders to send from memory while the spool is down."""
        return take_batch(self, self.every, self.max_bytes, self.envelope)


class SpoolWriter:
    """Writing to the spool for one consumer (its lock guards this state too)."""

    consumer: "Consumer"
    rows: int

    def __init__(self, spool: Spool, spool_sync: bool = False) -> None:
        self.spool = spool
        self.spool_sync = spool_sync

    def bind(self, consumer: "Consumer") -> None:
        self.consumer = consumer
        self._enqueue = consumer.put  # the consumer's own; this backlog's put goes in front
        consumer.put = self.put  # type: ignore[method-assign]

    def made_lock(self, lock: Any) -> None:
        self.spooled = threading.Condition(lock)  # rows were written (or stopping)

    def reset(self) -> None:
        # After fork the spool opens its own connection with the child's owner id (see
        # spool.py), so the child never sends the parent's rows.
        self.written = 0  # messages that left the write buffer (stored, refused, or sent from memory)
        self.direct: Deque[int] = collections.deque()  # tokens of records to send from memory
        self.down = ""  # why the spool cannot be used right now ("" when it can)
        self.retry_at = 0.0
        self.backoff = 0.0
        self.finished: Set[int] = set()  # rows that reached an outcome, not deleted yet
        self.unreleased: Set[int] = set()  # rows to give back, not released yet
        self.adopt_pending = False
        self.own = 0  # rows this consumer wrote or adopted that have not reached an outcome
        self.stored = 0  # rows this consumer ever wrote (a running count, for lingering)

    def new_queue(self) -> WriteBuffer:
        c = self.consumer
        return WriteBuffer(c.backlog_upload_size, c.max_batch_bytes, c.envelope)  # the writer takes all of it at once

    def workers(self) -> List[Tuple[str, Callable[[], None]]]:
        return [("analytics_sdk-spool-writer", self._write_loop)]

    def taken(self, count: int) -> None:
        self.written += count

    # -- the spool's health -------------------------------------------------------------

    def failed(self, exc: BaseException, doing: str) -> None:
        """Note a spool error: back off before the next try; log the first of a run."""
        with self.consumer.lock:
            first = not self.down
            self.down = f"{type(exc).__name__}: {exc}"
            self.backoff = _FIRST_BACKOFF if first else min(self.backoff * 2, MAX_BACKOFF)
            self.retry_at = monotonic() + self.backoff
        if first:
            log.error(
                "analytics_sdk: cannot %s the spool %r (%s); keeping messages in memory and sending them from there, "
                "retrying the spool with backoff", doing, self.spool.path, self.down,
            )
        else:
            log.debug("analytics_sdk: spool still unusable (%s)", self.down)

    def recovered(self) -> None:
        if not self.down:  # the common case: no lock
            return
        with self.consumer.lock:
            was, self.down, self.backoff = self.down, "", 0.0
        if was:
            log.warning("analytics_sdk: the spool %r works again", self.spool.path)

    def spool_due(self) -> bool:
        """(lock held) Whether to use the spool now (it works, or its backoff is over)."""
        return not self.down or monotonic() >= self.retry_at

    def adopt(self) -> int:
        try:
            adopted = self.spool.adopt_orphans()
        except Exception as exc:  # noqa: BLE001 - a constructor must not fail for a busy file: retried later
            self.adopt_pending = True
            self.failed(exc, "read")
            return 0
        with self.consumer.lock:
            self.adopt_pending = False
            self.own += adopted
        return adopted

    def pause(self, seconds: float) -> None:
        with self.consumer.lock:
            self.spooled.wait(seconds)

    # -- writing --------------------------------------------------------------------------

    def refusal(self) -> Optional[str]:
        # Rows on disk + accepted but not yet written, both counted under the lock.
        if self.rows + (self.consumer.progress.enqueued - self.written) >= self.spool.max_messages:
            return "spool_full"  # refused at the call, like a full queue
        return None

    def put(self, item: bytes, wait: float = 0.0) -> Optional[str]:
        if self.spool_sync:
            return self._put_sync(item)
        if len(self.consumer.queue) >= self.consumer.max_queue_size and not self.down:
            # The writer thread fell behind (a busy caller holds the GIL): write the
            # buffer to disk here rather than refuse. Disk only, bounded wait; if the
            # spool fails, the uploaders send the buffer from memory.
            record = self.take_buffer()
            if record is not None:
                self.store(record, CALLER_WAIT)
        refused = self._enqueue(item, wait)
        if refused == "queue_full" and self.down:
            return "spool_unavailable"
        return refused

    def _put_sync(self, item: bytes) -> Optional[str]:
        c = self.consumer
        if self.spool.in_use_here():
            # A signal handler that interrupted this thread inside the spool: it cannot
            # write there (the interrupted write holds it); the writer stores it soon.
            return self._enqueue(item, 0.0)
        if not c.lock.acquire(False) and not wait_unless_reentered(c.lock, c):
            return self._enqueue(item, 0.0)  # kept for the interrupted code (consumer.put)
        try:
            refused = "client_closed" if c.closed else self.refusal()
            if refused is not None:
                return refused
            if not self.spool_due():
                return "spool_unavailable"  # failed a moment ago: do not try again on every call
        finally:
            c.lock.release()
        try:
            stored = self.spool.append([item], CALLER_WAIT)
        except Exception as exc:  # noqa: BLE001 - nothing escapes into the application
            self.failed(exc, "write to")
            return "spool_unavailable"
        self.recovered()
        if not stored:
            return "spool_full"
        with c.lock:
            c.progress.enqueued += 1
            c.progress.dequeued += 1
            self.written += 1
            self.rows += 1
            self.own += 1
            self.stored += 1
            started = bool(c.threads) or c.starter.start()
            self.spooled.notify_all()
        if not started:
            c.starter.start_after_monkey_patch()
        return None

    def take_buffer(self) -> Optional[InFlight]:
        """Take the whole write buffer as one in-flight record (flush waits for it)."""
        c = self.consumer
        with c.lock:
            if not c.queue:
                return None
            record = c.progress.take(next(c.tokens), list(c.queue))
            c.queue.clear()
            record.storing = True
            c.not_full.notify_all()
        return record

    def store(self, record: InFlight, wait: Optional[float] = None) -> bool:
        """Write a taken buffer to the spool, reporting what did not fit; if the spool
        fails, hand the messages to the uploaders to send from memory."""
        c = self.consumer
        items = record.parts[0].items
        try:
            stored = self.spool.append(items, wait)
        except Exception as exc:  # noqa: BLE001 - any failure: the memory way
            self.failed(exc, "write to")
            self._send_from_memory(record, items)
            return False
        self.recovered()
        if stored < len(items):
            c.outcomes.drop("spool_full", items[stored:], "the spool is full (spool_max_messages)")
        with c.lock:
            record.storing = False
            c.progress.in_flight.pop(record.token, None)
            self.written += len(items)
            self.rows += stored
            self.own += stored
            self.stored += stored
            self.spooled.notify_all()
            c.changed.notify_all()
        return True

    def _send_from_memory(self, record: InFlight, items: Sequence[bytes]) -> None:
        c = self.consumer
        pending = collections.deque(items)
        parts = []
        while pending:
            parts.append(Part(take_batch(pending, c.upload_size, c.max_batch_bytes, c.envelope)))
        with c.lock:
            record.storing = False
            record.hold_inline = True
            self.written += len(items)
            record.parts = parts[::-1]  # the uploader sends the last part first
            late = c.stopping and c.past_deadline()
            if not late:
                self.direct.append(record.token)
                self.spooled.notify_all()
        if late:  # the shutdown deadline passed while we tried the disk: lost, reported
            c.outcomes.drop("shutdown_timeout", items, "the spool failed at the shutdown deadline")
            c.release(record.token)

    def _writer_ready(self) -> bool:
        """(lock held) Whether the writer should take the buffer now."""
        if not self.consumer.queue:
            return False
        # While the spool is down, the uploaders send the buffer from memory; the
        # writer tries the disk again when the backoff is over and what it handed
        # over before is on its way (so memory holds at most one extra buffer).
        return not self.down or (self.spool_due() and not self.direct)

    def _write_loop(self) -> None:
        c = self.consumer
        while True:
            try:
                with c.lock:
                    while not self._writer_ready():
                        if c.stopping and not c.queue:
                            return
                        # Idle: until a call queues something. Down with a backlog: look again soon.
                        c.not_empty.wait(DOWN_POLL if self.down and c.queue else None)
                record = self.take_buffer()
                if record is not None:
                    self.store(record)
            except Exception:  # noqa: BLE001 - the writer must never die
                log.exception("analytics_sdk: unexpected error in the spool writer")
                self.pause(MAX_BACKOFF)
