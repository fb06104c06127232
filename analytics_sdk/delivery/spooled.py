"""A consumer whose backlog lives on disk (the opt-in spool).

The path of a message: the caller's ``put`` appends the encoded bytes to the
in-memory write buffer (the base consumer's bounded queue); a writer thread
moves the buffer into SQLite in small groups; uploaders claim the oldest rows,
send them with the usual retry/split policy, and delete them once every message
reached an outcome. With ``spool_sync=True`` the caller writes its message to
SQLite itself, so a hard kill loses nothing already accepted.

A graceful exit or shutdown never reports spooled messages as lost: whatever
the deadline leaves unsent stays on disk for the next process.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import List, Optional, Tuple

from .batching import fits
from .consumer import Consumer, _monotonic, _yield_gil
from .progress import InFlight, Part
from .spool import Spool

__all__ = ["SpooledConsumer"]

log = logging.getLogger("analytics_sdk")


class SpooledConsumer(Consumer):
    """A :class:`Consumer` whose backlog is a :class:`Spool` on disk."""

    # Held-back events stay claimed on disk and the uploader waits for them inline:
    # a crash meanwhile leaves them in the file for the next process.
    defer_holds = False

    def __init__(self, destination, transport, outcomes, spool: Spool, *, spool_sync: bool = False, **options) -> None:
        self.spool = spool
        self.spool_sync = spool_sync
        super().__init__(destination, transport, outcomes, **options)
        adopted = spool.adopt_orphans()
        self._rows = spool.count  # rows in the file, as this consumer accounts them (under _lock)
        if adopted:
            log.info("analytics_sdk: resending %d message(s) left in the spool by an earlier process", adopted)
        if spool.unclaimed():
            with self._lock:
                self._start_threads()

    def _init_state(self) -> None:
        super()._init_state()
        self._spooled = threading.Condition(self._lock)  # rows were written (or stopping)
        self._written = 0  # messages of this process that reached the spool (or were refused)

    # After fork the spool opens its own connection with the child's owner id (see
    # spool.py), so the child never sends the parent's rows.

    # -- writing --------------------------------------------------------------------------

    def _refusal(self) -> Optional[str]:
        # Rows on disk + accepted but not yet written, both counted under the lock.
        if not self._closed and self._rows + (self._progress.enqueued - self._written) >= self.spool.max_messages:
            return "spool_full"  # refused at the call, like a full queue
        return super()._refusal()

    def put(self, item: bytes, wait: float = 0.0) -> Optional[str]:
        if not self.spool_sync:
            if len(self._queue) >= self.max_queue_size:
                # The writer thread fell behind (a busy caller holds the GIL): write
                # the buffer to disk here rather than refuse. Memory stays bounded.
                self._store(self._take_buffer())
            return super().put(item, wait)
        with self._lock:
            refused = self._refusal()
        if refused is not None:
            return refused
        if not self._write([item]):
            return "spool_full"
        with self._lock:
            self._progress.enqueued += 1
            self._progress.dequeued += 1
            self._written += 1
            self._rows += 1
            if not self._threads:
                self._start_threads()
            self._spooled.notify_all()
        return None

    def _write(self, items: List[bytes]) -> int:
        """Store messages in the spool; returns how many fitted under its limit."""
        try:
            return self.spool.append(items)
        except sqlite3.Error as exc:
            # Never lose what was accepted: send these directly, as without a spool.
            log.error("analytics_sdk: cannot write to the spool (%s); sending from memory", exc)
            for item in items:
                self._deliver(InFlight(first_seq=-1, parts=[Part([item])]))
            return len(items)

    def _take_buffer(self) -> List[bytes]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._progress.dequeued += len(items)
            self._not_full.notify_all()
        return items

    def _store(self, items: List[bytes]) -> None:
        """Write buffered messages to the spool and report any it had no room for."""
        stored = self._write(items)
        if stored < len(items):
            self.outcomes.drop("spool_full", items[stored:], "the spool is full (spool_max_messages)")
        with self._lock:
            self._written += len(items)
            self._rows += stored
            self._spooled.notify_all()
            self._changed.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if self._stopping:
                        return
                    self._not_empty.wait()
            self._store(self._take_buffer())

    def _start_threads(self) -> None:
        writer = threading.Thread(target=self._write_loop, name="analytics_sdk-spool-writer", daemon=True)
        try:
            writer.start()
        except RuntimeError:
            return
        self._threads.append(writer)
        super()._start_threads()

    # -- sending --------------------------------------------------------------------------

    def _claim(self) -> Optional[List[Tuple[int, bytes]]]:
        """Wait for rows and claim up to a batch; None when stopping with nothing left."""
        while True:
            with self._lock:
                if self._stopping and self._deadline is not None and _monotonic() >= self._deadline:
                    return None  # what is left stays on disk for the next run
                urgent = self._stopping or self._flush_target > 0
            if not urgent and 0 < self.spool.unclaimed() < self.upload_size:
                with self._lock:  # linger for a fuller batch, as the in-memory path does
                    self._spooled.wait(self.upload_interval)
            rows = self.spool.claim(self.upload_size)
            if rows:
                return self._fit(rows)
            with self._lock:
                if self._stopping and self._written >= self._progress.enqueued:
                    return None
                self._spooled.wait(1.0)

    def _fit(self, rows: List[Tuple[int, bytes]]) -> List[Tuple[int, bytes]]:
        """Keep what fits in one request; give the rest back."""
        kept: List[Tuple[int, bytes]] = []
        size = 0
        for row in rows:
            if not fits(len(kept), size, len(row[1]), self.upload_size, self.max_batch_bytes, self._envelope):
                break
            kept.append(row)
            size += len(row[1])
        if len(kept) < len(rows):
            self.spool.release([rowid for rowid, _ in rows[len(kept):]])
        return kept

    def _run(self) -> None:
        ident = threading.get_ident()
        self._uploader_idents.add(ident)
        while True:
            token = next(self._tokens)
            try:
                rows = self._claim()
            except sqlite3.Error as exc:
                log.error("analytics_sdk: cannot read the spool (%s)", exc)
                rows = None
            if rows is None:
                self._uploader_idents.discard(ident)
                return
            rowids = [rowid for rowid, _ in rows]
            record = InFlight(first_seq=0, parts=[Part([body for _, body in rows])], token=token)
            with self._lock:
                self._progress.in_flight[token] = record
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
                try:
                    if record.abandoned and not crashed:
                        self.spool.release(rowids)  # a deadline stopped it: keep for the next run
                    else:
                        self.spool.delete(rowids)  # every message reached an outcome
                        with self._lock:
                            self._rows -= len(rowids)
                except sqlite3.Error as exc:
                    log.error("analytics_sdk: cannot update the spool (%s)", exc)
                self._release(token)
            _yield_gil(0)  # give the application its turn between batches (consumer._GIL_NOTE)

    def _cut_by_deadline(self, record: InFlight, items: List[bytes], status: Optional[int], attempts: int) -> None:
        # Not a loss: the batch's rows stay on disk for the next run.
        self._report_abandoned(record, "shutdown_timeout", "")

    def _report_abandoned(self, record: InFlight, reason: str, detail: str) -> None:
        # Spooled messages cut off by a deadline are not lost: they stay on disk.
        with self._lock:
            record.abandoned = True
            record.parts = []

    # -- waiting ---------------------------------------------------------------------------

    def _wait_spool_drained(self, target: int, deadline: float) -> bool:
        with self._lock:
            while self._written < target:
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 3600.0))  # a flush without timeout: inf
        last = self.spool.last_id()
        while self.spool.pending_through(last):
            with self._lock:
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True

    # flush() is the base one; these are the spool's answers to its questions.

    def _done_without_waiting(self, target: int) -> bool:
        return False  # from on_error: the spool is not checked under the lock; say "not yet"

    def _wake_for_flush(self) -> None:
        super()._wake_for_flush()
        self._spooled.notify_all()

    def _has_work(self) -> bool:
        return bool(self._queue) or self.spool.unclaimed() > 0

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
        if threading.get_ident() in self._uploader_idents:
            return False
        with self._lock:
            target = self._progress.enqueued
            writer_gone = not any(t.is_alive() for t in self._threads)
        if writer_gone:  # no writer thread (exit too late to start one): write here
            self._store(self._take_buffer())
        done = self._wait_spool_drained(target, deadline)
        if not done:
            with self._lock:
                records = list(self._progress.in_flight.values())
            for record in records:
                self._report_abandoned(record, "shutdown_timeout", "")
        for thread in self._threads:
            thread.join(max(0.0, min(deadline - _monotonic(), 3600.0)))
        return done
