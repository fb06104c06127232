"""A consumer whose backlog lives on disk (the opt-in spool).

The path of a message: the caller's ``put`` appends the encoded bytes to the
in-memory write buffer (the base consumer's bounded queue); a writer thread
moves the buffer into SQLite in small groups; uploaders claim the oldest rows,
send them with the usual retry/split policy, and delete them once every message
reached an outcome. With ``spool_sync=True`` the caller writes its message to
SQLite itself, so a hard kill loses nothing already accepted.

A graceful exit or shutdown never reports spooled messages as lost: whatever
the deadline leaves unsent stays on disk for the next process.

When the spool cannot be used (a full disk, a lost directory, a lock held too
long by another process), nothing escapes to the caller and no thread dies:

* the caller's thread never sends and never sleeps. Without ``spool_sync`` the
  message stays in the bounded write buffer, which the uploaders then send
  straight from memory; when the buffer is full the call is refused with
  ``spool_unavailable``. With ``spool_sync`` the call is refused with
  ``spool_unavailable`` (accepted means "on disk").
* a batch the writer could not store is sent from memory by the uploaders,
  like the in-memory consumer sends it (delivered or reported).
* the writer and uploaders log the first error, retry the spool with backoff
  (0.1 s doubling to 5 s) and log when it works again. Rows that were sent but
  could not be deleted are deleted later (until then flush counts them done).
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from typing import Any, Deque, List, Optional, Sequence, Set, Tuple

from . import prefork
from .batching import fits, take_batch
from .callbacks import in_user_code
from .consumer import Consumer, _monotonic
from .progress import InFlight, Part
from .spool import Spool

__all__ = ["SpooledConsumer"]

log = logging.getLogger("analytics_sdk")

# An in-flight record of rows on disk: never holds back flush's low-water mark
# (the rows are tracked in the file), and is kept, not reported, at a deadline.
_ON_DISK = sys.maxsize
# The longest a caller's thread waits for the spool (our lock, or another
# connection's write lock) before the message goes the memory way.
CALLER_WAIT = 0.25
_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 5.0
_DOWN_POLL = 0.05  # how often idle uploaders look at the write buffer while the spool is down


class _WriteBuffer(collections.deque):
    """The spool's write buffer. Like the in-memory queue's ``append``, says when to
    hand the GIL over: every ``every`` events, so the writer thread keeps up."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every

    def append(self, item: bytes) -> bool:  # type: ignore[override]
        super().append(item)
        return len(self) % self.every == 0


class SpooledConsumer(Consumer):
    """A :class:`Consumer` whose backlog is a :class:`Spool` on disk."""

    # Held-back events stay claimed on disk and the uploader waits for them inline:
    # a crash meanwhile leaves them in the file for the next process.
    defer_holds = False

    def __init__(self, destination, transport, outcomes, spool: Spool, *, spool_sync: bool = False, **options) -> None:
        self.spool = spool
        self.spool_sync = spool_sync
        super().__init__(destination, transport, outcomes, **options)
        adopted = self._adopt()
        self._rows = spool.count  # rows in the file, as this consumer accounts them (under _lock)
        if adopted:
            log.info("analytics_sdk: resending %d message(s) left in the spool by an earlier process", adopted)
        if adopted or self._adopt_pending or self._rows_waiting():
            with self._lock:
                self._start_threads()  # (the lock was just made: never refused for a monkey-patch)

    def _new_queue(self) -> Any:
        return _WriteBuffer(self.backlog_upload_size)  # the writer takes all of it at once

    def _take_from_queue(self) -> List[bytes]:
        # From memory while the spool is down: the write buffer is a plain deque.
        return take_batch(self._queue, self.backlog_upload_size, self.max_batch_bytes, self._envelope)

    def _make_locks(self) -> None:
        super()._make_locks()
        self._spooled = threading.Condition(self._lock)  # rows were written (or stopping)

    def _init_state(self) -> None:
        super()._init_state()
        self._written = 0  # messages that left the write buffer (stored, refused, or sent from memory)
        self._direct: Deque[int] = collections.deque()  # tokens of records to send from memory
        self._writing: Set[int] = set()  # tokens of records the writer is storing
        self._down = ""  # why the spool cannot be used right now ("" when it can)
        self._retry_at = 0.0
        self._backoff = 0.0
        self._finished: Set[int] = set()  # rows that reached an outcome, not deleted yet
        self._unreleased: Set[int] = set()  # rows to give back, not released yet
        self._adopt_pending = False
        self._own = 0  # rows this consumer wrote or adopted that have not reached an outcome
        self._stored = 0  # rows this consumer ever wrote (a running count, for lingering)

    # After fork the spool opens its own connection with the child's owner id (see
    # spool.py), so the child never sends the parent's rows.

    # -- the spool's health -------------------------------------------------------------

    def _failed(self, exc: BaseException, doing: str) -> None:
        """Note a spool error: back off before the next try; log the first of a run."""
        with self._lock:
            first = not self._down
            self._down = f"{type(exc).__name__}: {exc}"
            self._backoff = _FIRST_BACKOFF if first else min(self._backoff * 2, _MAX_BACKOFF)
            self._retry_at = _monotonic() + self._backoff
        if first:
            log.error(
                "analytics_sdk: cannot %s the spool %r (%s); keeping messages in memory and sending them from there, "
                "retrying the spool with backoff", doing, self.spool.path, self._down,
            )
        else:
            log.debug("analytics_sdk: spool still unusable (%s)", self._down)

    def _recovered(self) -> None:
        if not self._down:  # the common case: no lock
            return
        with self._lock:
            was, self._down, self._backoff = self._down, "", 0.0
        if was:
            log.warning("analytics_sdk: the spool %r works again", self.spool.path)

    def _spool_due(self) -> bool:
        """(lock held) Whether to use the spool now (it works, or its backoff is over)."""
        return not self._down or _monotonic() >= self._retry_at

    def _adopt(self) -> int:
        try:
            adopted = self.spool.adopt_orphans()
        except Exception as exc:  # noqa: BLE001 - a constructor must not fail for a busy file: retried later
            self._adopt_pending = True
            self._failed(exc, "read")
            return 0
        with self._lock:
            self._adopt_pending = False
            self._own += adopted
        return adopted

    def _rows_waiting(self) -> bool:
        try:
            return self.spool.unclaimed() > 0
        except Exception:  # noqa: BLE001 - cannot tell: let an uploader look
            return True

    # -- writing --------------------------------------------------------------------------

    def _refusal(self) -> Optional[str]:
        # Rows on disk + accepted but not yet written, both counted under the lock.
        if not self._closed and self._rows + (self._progress.enqueued - self._written) >= self.spool.max_messages:
            return "spool_full"  # refused at the call, like a full queue
        return super()._refusal()

    def put(self, item: bytes, wait: float = 0.0) -> Optional[str]:
        if self.spool_sync:
            return self._put_sync(item)
        if len(self._queue) >= self.max_queue_size and not self._down:
            # The writer thread fell behind (a busy caller holds the GIL): write the
            # buffer to disk here rather than refuse. Disk only, bounded wait; if the
            # spool fails, the uploaders send the buffer from memory.
            record = self._take_buffer()
            if record is not None:
                self._store(record, CALLER_WAIT)
        refused = super().put(item, wait)
        if refused == "queue_full" and self._down:
            return "spool_unavailable"
        return refused

    def _put_sync(self, item: bytes) -> Optional[str]:
        with self._lock:
            refused = self._refusal()
            if refused is not None:
                return refused
            if not self._spool_due():
                return "spool_unavailable"  # failed a moment ago: do not try again on every call
        try:
            stored = self.spool.append([item], CALLER_WAIT)
        except Exception as exc:  # noqa: BLE001 - nothing escapes into the application
            self._failed(exc, "write to")
            return "spool_unavailable"
        self._recovered()
        if not stored:
            return "spool_full"
        with self._lock:
            self._progress.enqueued += 1
            self._progress.dequeued += 1
            self._written += 1
            self._rows += 1
            self._own += 1
            self._stored += 1
            started = bool(self._threads) or self._start_threads()
            self._spooled.notify_all()
        if not started:
            self._start_after_monkey_patch()
        return None

    def _take_buffer(self) -> Optional[InFlight]:
        """Take the whole write buffer as one in-flight record (flush waits for it)."""
        with self._lock:
            if not self._queue:
                return None
            record = self._progress.take(next(self._tokens), list(self._queue))
            self._queue.clear()
            self._writing.add(record.token)
            self._not_full.notify_all()
        return record

    def _store(self, record: InFlight, wait: Optional[float] = None) -> bool:
        """Write a taken buffer to the spool, reporting what did not fit; if the spool
        fails, hand the messages to the uploaders to send from memory."""
        items = record.parts[0].items
        try:
            stored = self.spool.append(items, wait)
        except Exception as exc:  # noqa: BLE001 - any failure: the memory way
            self._failed(exc, "write to")
            self._send_from_memory(record, items)
            return False
        self._recovered()
        if stored < len(items):
            self.outcomes.drop("spool_full", items[stored:], "the spool is full (spool_max_messages)")
        with self._lock:
            self._writing.discard(record.token)
            self._progress.in_flight.pop(record.token, None)
            self._written += len(items)
            self._rows += stored
            self._own += stored
            self._stored += stored
            self._spooled.notify_all()
            self._changed.notify_all()
        return True

    def _send_from_memory(self, record: InFlight, items: Sequence[bytes]) -> None:
        pending = collections.deque(items)
        parts = []
        while pending:
            parts.append(Part(take_batch(pending, self.upload_size, self.max_batch_bytes, self._envelope)))
        with self._lock:
            self._writing.discard(record.token)
            self._written += len(items)
            record.parts = parts[::-1]  # _deliver sends the last part first
            late = self._stopping and self._past_deadline()
            if not late:
                self._direct.append(record.token)
                self._spooled.notify_all()
        if late:  # the shutdown deadline passed while we tried the disk: lost, reported
            self.outcomes.drop("shutdown_timeout", items, "the spool failed at the shutdown deadline")
            self._release(record.token)

    def _writer_ready(self) -> bool:
        """(lock held) Whether the writer should take the buffer now."""
        if not self._queue:
            return False
        # While the spool is down, the uploaders send the buffer from memory; the
        # writer tries the disk again when the backoff is over and what it handed
        # over before is on its way (so memory holds at most one extra buffer).
        return not self._down or (self._spool_due() and not self._direct)

    def _write_loop(self) -> None:
        while True:
            try:
                with self._lock:
                    while not self._writer_ready():
                        if self._stopping and not self._queue:
                            return
                        # Idle: until a call queues something. Down with a backlog: look again soon.
                        self._not_empty.wait(_DOWN_POLL if self._down and self._queue else None)
                record = self._take_buffer()
                if record is not None:
                    self._store(record)
            except Exception:  # noqa: BLE001 - the writer must never die
                log.exception("analytics_sdk: unexpected error in the spool writer")
                self._pause(_MAX_BACKOFF)

    def _start_uploaders(self) -> None:
        if prefork.threads_unsafe():  # no writer either: a uWSGI master (prefork.py)
            super()._start_uploaders()
            return
        writer = threading.Thread(target=self._write_loop, name="analytics_sdk-spool-writer", daemon=True)
        try:
            writer.start()
        except RuntimeError:
            return
        self._threads.append(writer)
        super()._start_uploaders()

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._spooled.wait(seconds)

    # -- sending --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            token = next(self._tokens)
            try:
                work = self._next_work(token)
            except Exception:  # noqa: BLE001 - the uploader must never die
                log.exception("analytics_sdk: unexpected error in the uploader")
                self._pause(_MAX_BACKOFF)
                continue
            if work is None:
                return
            self._send_record(*work)
            time.sleep(0)  # give the application its turn between batches (consumer._GIL_NOTE)

    def _next_work(self, token: int) -> Optional[Tuple[InFlight, List[int]]]:
        """Wait for something to send: a record to send from memory, a batch from the
        write buffer (spool down) or rows from the spool. None when stopping with nothing left."""
        while True:
            with self._lock:
                while self._direct:
                    record = self._progress.in_flight.get(self._direct.popleft())
                    if record is not None:
                        return record, []
                if self._stopping and self._past_deadline():
                    return None  # what is left on disk stays for the next run
                from_memory = bool(self._down and self._queue) and not self._spool_due()
                use_spool = self._spool_due()
            if from_memory:
                record = Consumer._take_batch(self, token, linger=False)
                if record is not None:
                    with self._lock:
                        self._written += len(record.parts[0].items)
                    return record, []
                continue
            rows = self._claim_rows() if use_spool else []
            if rows:
                record = InFlight(first_seq=_ON_DISK, parts=[Part([body for _, body in rows])], token=token)
                with self._lock:
                    self._progress.in_flight[token] = record
                return record, [rowid for rowid, _ in rows]
            with self._lock:
                if self._stopping and not self._queue and not self._direct and self._progress.done(self._progress.enqueued):
                    return None
                if not self._direct:
                    self._spooled.wait(_DOWN_POLL if self._down else 1.0)

    def _claim_rows(self) -> List[Tuple[int, bytes]]:
        """Settle what an error left over, then claim up to a batch ([] on a spool error)."""
        try:
            self._settle()
            waiting = self._linger()
            # A backlog on disk goes out in fuller requests, as the in-memory path's does.
            count = self.backlog_upload_size if waiting > self.upload_size else self.upload_size
            rows = self.spool.claim(count)
        except Exception as exc:  # noqa: BLE001 - retried after a backoff
            self._failed(exc, "read")
            return []
        if rows:
            self._recovered()
        return self._fit(rows, count)

    def _linger(self) -> int:
        """Wait up to ``upload_interval`` for a full batch, as the in-memory path does,
        unless a flush or a shutdown wants the rows now. Counts what the writer stores
        meanwhile instead of asking SQLite on every write (that costs the caller GIL time)."""
        waiting = self.spool.unclaimed()
        if not 0 < waiting < self.upload_size:
            return waiting
        until = _monotonic() + self.upload_interval
        with self._lock:
            enough = self._stored + (self.upload_size - waiting)
            while self._stored < enough and not self._stopping and self._flush_target <= 0:
                remaining = until - _monotonic()
                if remaining <= 0:
                    break
                self._spooled.wait(remaining)
        return waiting

    def _settle(self) -> None:
        """Deletes, releases and adoption that a spool error left for later."""
        with self._lock:
            finished, unreleased = list(self._finished), list(self._unreleased)
        if finished:
            self.spool.delete(finished)
            with self._lock:
                self._finished.difference_update(finished)
                self._rows -= len(finished)
        if unreleased:
            self.spool.release(unreleased)
            with self._lock:
                self._unreleased.difference_update(unreleased)
        if self._adopt_pending and self._adopt():
            log.info("analytics_sdk: resending message(s) left in the spool by an earlier process")

    def _fit(self, rows: List[Tuple[int, bytes]], count: int) -> List[Tuple[int, bytes]]:
        """Keep what fits in one request of at most ``count`` events; give the rest back."""
        kept: List[Tuple[int, bytes]] = []
        size = 0
        for row in rows:
            if not fits(len(kept), size, len(row[1]), count, self.max_batch_bytes, self._envelope):
                break
            kept.append(row)
            size += len(row[1])
        if len(kept) < len(rows):
            self._settle_rows([rowid for rowid, _ in rows[len(kept):]], keep=True)
        return kept

    def _send_record(self, record: InFlight, rowids: List[int]) -> None:
        crashed = False
        try:
            self._deliver(record)
        except Exception:  # noqa: BLE001 - the uploader must never die
            log.exception("analytics_sdk: unexpected error in the uploader")
            # Reported like the in-memory path does, then deleted: retrying a
            # batch that crashes the uploader would crash it forever.
            crashed = True
            Consumer._report_abandoned(self, record, "rejected", "internal error in the uploader")
        finally:
            if rowids:
                # A deadline stopped it: keep for the next run; else every message reached an outcome.
                self._settle_rows(rowids, keep=record.abandoned and not crashed)
            self._release(record.token)

    def _settle_rows(self, rowids: List[int], keep: bool) -> None:
        """Release (``keep``) or delete rows; on a spool error, remember to do it later."""
        try:
            if keep:
                self.spool.release(rowids)
            else:
                self.spool.delete(rowids)
                with self._lock:
                    self._rows -= len(rowids)
                    self._own -= len(rowids)
        except Exception as exc:  # noqa: BLE001 - done later (_settle)
            self._failed(exc, "update")
            with self._lock:
                if keep:
                    self._unreleased.update(rowids)
                else:
                    self._finished.update(rowids)
                    self._own -= len(rowids)

    def _cut_by_deadline(
        self, record: InFlight, items: Sequence[bytes], status: Optional[int], attempts: int, in_doubt: bool = False
    ) -> None:
        if record.first_seq == _ON_DISK:  # not a loss: the batch's rows stay on disk for the next run
            self._report_abandoned(record, "shutdown_timeout", "")
        else:
            super()._cut_by_deadline(record, items, status, attempts, in_doubt)

    def _report_abandoned(self, record: InFlight, reason: str, detail: str) -> None:
        if record.token in self._writing:
            return  # the writer finishes it: on disk, or reported (_send_from_memory)
        if record.first_seq == _ON_DISK:  # spooled messages cut off by a deadline stay on disk
            with self._lock:
                record.abandoned = True
                record.parts = []
            return
        super()._report_abandoned(record, reason, detail)

    # -- waiting ---------------------------------------------------------------------------

    def _wait_spool_drained(self, target: int, deadline: float) -> bool:
        """Wait until every message before ``target`` left the buffer and reached an
        outcome, on disk or from memory. A spool error means "not yet"."""
        with self._lock:
            if not self._wait_done(target, deadline):
                return False
        last: Optional[int] = None
        while True:
            try:
                if last is None:
                    last = self.spool.last_id()
                with self._lock:
                    finished = set(self._finished)
                if not self.spool.pending_through(last, finished):
                    return True
            except Exception:  # noqa: BLE001 - a flush never raises
                with self._lock:
                    if self._own <= 0:
                        return True  # the file cannot tell, but none of our rows is waiting
            with self._lock:
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))

    # flush() is the base one; these are the spool's answers to its questions.

    def _done_without_waiting(self, target: int) -> bool:
        return False  # from on_error: the spool is not checked under the lock; say "not yet"

    def _wake_for_flush(self) -> None:
        super()._wake_for_flush()
        self._spooled.notify_all()

    def _has_work(self) -> bool:
        return bool(self._queue) or bool(self._direct) or self._rows_waiting()

    def _wait_flushed(self, target: int, deadline: float) -> bool:
        try:
            return self._wait_spool_drained(target, deadline)
        finally:
            with self._lock:
                if self._flush_target <= target:
                    self._flush_target = 0

    def begin_shutdown(self, deadline: float) -> None:
        super().begin_shutdown(deadline)
        with self._lock:
            self._spooled.notify_all()

    def finish_shutdown(self, deadline: float) -> bool:
        if in_user_code():
            return False
        with self._lock:
            target = self._progress.enqueued
            threads_gone = not any(t.is_alive() for t in self._threads)
        if threads_gone:  # no threads (exit too late to start them): write, or send, here
            self._store_inline()
        done = self._wait_spool_drained(target, deadline)
        try:
            self._settle()  # a last try at deletes a spool error postponed
        except Exception:  # noqa: BLE001 - they stay claimed: the next process resends them
            pass
        if not done:
            self._report_left_behind()
            self._wait_for_reports(deadline)
        for thread in self._threads:
            thread.join(max(0.0, min(deadline - _monotonic(), 3600.0)))
        self._close_transport()
        return done

    def _send_at_shutdown(self) -> None:
        """No thread may start any more: to the disk now, for the next process."""
        if self.spool_sync:
            return
        self._store_inline()
        if self._queue:
            self._report_left_behind()

    def _store_inline(self) -> None:
        record = self._take_buffer()
        if record is None or self._store(record):
            return
        with self._lock:
            tokens = list(self._direct)
            self._direct.clear()
        for token in tokens:
            inline = self._progress.in_flight.get(token)
            if inline is not None:
                self._send_record(inline, [])

    def _report_left_behind(self) -> None:
        """The deadline passed: what is only in memory is lost (reported); rows stay on disk."""
        with self._lock:
            stranded = list(self._queue)
            self._queue.clear()
            self._progress.dequeued += len(stranded)
            self._written += len(stranded)
            records = list(self._progress.in_flight.values())
        if stranded:
            self.outcomes.drop("shutdown_timeout", stranded, "still queued when the shutdown deadline passed")
        for record in records:
            self._report_abandoned(record, "shutdown_timeout", "still sending when the shutdown deadline passed")
