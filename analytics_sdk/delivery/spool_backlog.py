"""The spool backlog: accepted events wait on disk, in SQLite (the opt-in spool).

The path of a message: the consumer's ``put`` appends the encoded bytes to its
in-memory queue, here a write buffer; a writer thread (``spool_writer.py``) moves
the buffer into SQLite in small groups; uploaders claim the oldest rows, send
them through the consumer's usual uploader loop (retry, split, holds: held events
stay claimed on disk and the uploader waits for them, so a crash meanwhile leaves
them in the file), and the rows are deleted once every message reached an
outcome. With ``spool_sync=True`` the caller writes its message to SQLite itself,
so a hard kill loses nothing already accepted.

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
  like the memory backlog's (delivered or reported).
* the writer and uploaders log the first error, retry the spool with backoff
  (0.1 s doubling to 5 s) and log when it works again. Rows that were sent but
  could not be deleted are deleted later (until then flush counts them done).
"""

from __future__ import annotations

import logging
from typing import List, Optional, Tuple

from .batching import fits
from .clock import hand_over_gil, monotonic, time_left
from .progress import ON_DISK, InFlight, Part
from .spool_writer import CALLER_WAIT, DOWN_POLL, MAX_BACKOFF, SpoolWriter

__all__ = ["SpoolBacklog", "CALLER_WAIT"]

log = logging.getLogger("analytics_sdk")

class SpoolBacklog(SpoolWriter):
    """A backlog (backlog.py) whose events wait in a :class:`Spool` on disk.

    The writing half (the write buffer, the writer thread, the spool's health) is
    :class:`~analytics_sdk.delivery.spool_writer.SpoolWriter`; this half claims,
    settles and waits for rows."""

    def open(self) -> None:
        c = self.consumer
        adopted = self.adopt()
        self.rows = self.spool.count  # rows in the file, as this consumer accounts them (under the lock)
        if adopted:
            log.info("analytics_sdk: resending %d message(s) left in the spool by an earlier process", adopted)
        if adopted or self.adopt_pending or self._rows_waiting():
            with c.lock:
                c.starter.start()  # (the lock was just made: never refused for a monkey-patch)

    def _rows_waiting(self, wait: Optional[float] = None) -> bool:
        try:
            return self.spool.unclaimed(wait) > 0
        except Exception:  # noqa: BLE001 - cannot tell: let an uploader look
            return True

    # -- sending --------------------------------------------------------------------------

    def next_record(self, token: int) -> Optional[InFlight]:
        hand_over_gil()  # the application's turn between two batches (hot-path.md)
        while True:
            try:
                return self._next_work(token)
            except Exception:  # noqa: BLE001 - the uploader must never die
                log.exception("analytics_sdk: unexpected error in the uploader")
                self.pause(MAX_BACKOFF)

    def _next_work(self, token: int) -> Optional[InFlight]:
        """Wait for something to send: a record to send from memory, a batch from the
        write buffer (spool down) or rows from the spool. None when stopping with nothing left."""
        c = self.consumer
        while True:
            with c.lock:
                while self.direct:
                    record = c.progress.in_flight.get(self.direct.popleft())
                    if record is not None:
                        return record
                if c.stopping and c.past_deadline():
                    return None  # what is left on disk stays for the next run
                from_memory = bool(self.down and c.queue) and not self.spool_due()
                use_spool = self.spool_due()
            if from_memory:
                record = c.batcher.next_record(token, linger=False)
                if record is not None:
                    record.hold_inline = True
                    with c.lock:
                        self.written += len(record.parts[0].items)
                    return record
                continue
            rows = self._claim_rows() if use_spool else []
            if rows:
                record = InFlight(
                    first_seq=ON_DISK, parts=[Part([body for _, body in rows])], token=token,
                    hold_inline=True, rowids=[rowid for rowid, _ in rows],
                )
                with c.lock:
                    c.progress.in_flight[token] = record
                return record
            with c.lock:
                if c.stopping and not c.queue and not self.direct and c.progress.done(c.progress.enqueued):
                    return None
                if not self.direct:
                    self.spooled.wait(DOWN_POLL if self.down else 1.0)

    def _claim_rows(self) -> List[Tuple[int, bytes]]:
        """Settle what an error left over, then claim up to a batch ([] on a spool error)."""
        c = self.consumer
        try:
            self._settle()
            waiting = self._linger()
            # A backlog on disk goes out in fuller requests, as the in-memory path's does.
            count = c.backlog_upload_size if waiting > c.upload_size else c.upload_size
            rows = self.spool.claim(count)
        except Exception as exc:  # noqa: BLE001 - retried after a backoff
            self.failed(exc, "read")
            return []
        if rows:
            self.recovered()
        return self._fit(rows, count)

    def _linger(self) -> int:
        """Wait up to ``upload_interval`` for a full batch, as the in-memory path does,
        unless a flush or a shutdown wants the rows now. Counts what the writer stores
        meanwhile instead of asking SQLite on every write (hot-path.md, "The spool")."""
        c = self.consumer
        waiting = self.spool.unclaimed()
        if not 0 < waiting < c.upload_size:
            return waiting
        until = monotonic() + c.upload_interval
        with c.lock:
            enough = self.stored + (c.upload_size - waiting)
            while self.stored < enough and not c.stopping and c.flush_target <= 0:
                remaining = until - monotonic()
                if remaining <= 0:
                    break
                self.spooled.wait(remaining)
        return waiting

    def _settle(self) -> None:
        """Deletes, releases and adoption that a spool error left for later."""
        c = self.consumer
        with c.lock:
            finished, unreleased = list(self.finished), list(self.unreleased)
        if finished:
            self.spool.delete(finished)
            with c.lock:
                self.finished.difference_update(finished)
                self.rows -= len(finished)
        if unreleased:
            self.spool.release(unreleased)
            with c.lock:
                self.unreleased.difference_update(unreleased)
        if self.adopt_pending and self.adopt():
            log.info("analytics_sdk: resending message(s) left in the spool by an earlier process")

    def _fit(self, rows: List[Tuple[int, bytes]], count: int) -> List[Tuple[int, bytes]]:
        """Keep what fits in one request of at most ``count`` events; give the rest back."""
        c = self.consumer
        kept: List[Tuple[int, bytes]] = []
        size = 0
        for row in rows:
            if not fits(len(kept), size, len(row[1]), count, c.max_batch_bytes, c.envelope):
                break
            kept.append(row)
            size += len(row[1])
        if len(kept) < len(rows):
            self._settle_rows([rowid for rowid, _ in rows[len(kept):]], keep=True)
        return kept

    def settle(self, record: InFlight, crashed: bool) -> None:
        if record.rowids:
            # A deadline stopped it: keep for the next run; else every message reached an outcome.
            self._settle_rows(record.rowids, keep=record.abandoned and not crashed)

    def _settle_rows(self, rowids: List[int], keep: bool) -> None:
        """Release (``keep``) or delete rows; on a spool error, remember to do it later."""
        c = self.consumer
        try:
            if keep:
                self.spool.release(rowids)
            else:
                self.spool.delete(rowids)
                with c.lock:
                    self.rows -= len(rowids)
                    self.own -= len(rowids)
        except Exception as exc:  # noqa: BLE001 - done later (_settle)
            self.failed(exc, "update")
            with c.lock:
                if keep:
                    self.unreleased.update(rowids)
                else:
                    self.finished.update(rowids)
                    self.own -= len(rowids)

    # -- flush and shutdown -------------------------------------------------------------

    def has_work(self) -> bool:
        # (the consumer's lock held: no waiting for the spool; when it cannot tell, an uploader looks)
        return bool(self.direct) or self._rows_waiting(wait=0.0)

    def wake(self) -> None:
        self.spooled.notify_all()

    def done_without_waiting(self, target: int) -> bool:
        return False  # from on_error: the spool is not checked under the lock; say "not yet"

    def wait_flushed(self, target: int, deadline: float) -> bool:
        c = self.consumer
        try:
            return self._wait_spool_drained(target, deadline)
        finally:
            with c.lock:
                if c.flush_target <= target:
                    c.flush_target = 0

    def _wait_spool_drained(self, target: int, deadline: float) -> bool:
        """Wait until every message before ``target`` left the buffer and reached an
        outcome, on disk or from memory. A spool error means "not yet"."""
        c = self.consumer
        with c.lock:
            if not c.wait_done(target, deadline):
                return False
        last: Optional[int] = None
        while True:
            try:
                # (the caller's thread: every wait for the spool ends at the deadline)
                if last is None:
                    last = self.spool.last_id(time_left(deadline))
                with c.lock:
                    finished = set(self.finished)
                if not self.spool.pending_through(last, finished, time_left(deadline)):
                    return True
            except Exception:  # noqa: BLE001 - a flush never raises
                with c.lock:
                    if self.own <= 0:
                        return True  # the file cannot tell, but none of our rows is waiting
            with c.lock:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return False
                c.changed.wait(min(remaining, 0.05))

    def drain_without_threads(self) -> None:
        if not self.consumer.starter.alive():  # (exit too late to start them): write, or send, here
            self._store_inline()

    def tidy(self) -> None:
        try:
            self._settle()  # a last try at deletes a spool error postponed
        except Exception:  # noqa: BLE001 - they stay claimed: the next process resends them
            pass

    def send_at_exit(self) -> None:
        """No thread may start any more: to the disk now, for the next process."""
        if self.spool_sync:
            return
        self._store_inline()
        if self.consumer.queue:
            self.consumer.stopper.give_up()

    def _store_inline(self) -> None:
        c = self.consumer
        record = self.take_buffer()
        if record is None or self.store(record, time_left(c.deadline)):
            return
        with c.lock:
            tokens = list(self.direct)
            self.direct.clear()
        for token in tokens:
            inline = c.progress.in_flight.get(token)
            if inline is not None:
                c.uploader.send_record(inline)
