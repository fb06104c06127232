"""The batching policy: which events an uploader takes from the in-memory queue, and when.

Due held records first (held events must not starve behind new traffic), then the
oldest run of the queue, after lingering up to ``upload_interval`` for a full
request unless a flush or a shutdown wants the events now. Lingering events stay
in the queue, so callers are not woken per event and ``flush`` sees them pending.
Why lingering matters for the application's threads: docs/architecture/hot-path.md,
"Fewer, fuller requests".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .clock import MAX_WAIT, monotonic
from .progress import InFlight

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Batcher", "BACKLOG_LINGER"]

BACKLOG_LINGER = 0.05  # seconds an uploader waits for a full request under heavy traffic


class Batcher:
    """Takes the next request's worth for one consumer's uploaders (under its lock)."""

    def __init__(self, consumer: "Consumer") -> None:
        self.consumer = consumer

    def next_record(self, token: int, linger: bool) -> Optional[InFlight]:
        """Block for events; take a due held record or up to one batch. None when
        stopping and empty (or, without ``linger``, when nothing is ready now)."""
        c = self.consumer
        with c.lock:
            if c.from_handlers:
                c.take_in_from_handlers()
            queue = c.queue
            while True:
                held = self._pop_due_hold()
                if held is not None:
                    return held
                if queue:
                    if linger:
                        self._linger_for_batch(queue)
                    if queue:  # (another uploader may have taken the run meanwhile)
                        break
                    continue
                if not c.holds and (c.stopping or not linger):
                    return None
                if c.holds and (not linger or c.past_deadline()):
                    return None  # held events wait for their time; a shutdown reports them
                c.not_empty.wait(self._until_next_hold())  # None: until notified
            batch = queue.take()
            record = c.progress.take(token, batch)
            c.not_full.notify(len(batch))
            return record

    def _linger_for_batch(self, queue: Any) -> None:
        """(lock held) Wait up to ``upload_interval`` for ``upload_size`` events, unless
        a flush or a shutdown wants them now. When a batch's worth gathered while the
        last request was out, traffic is heavy: wait, at most BACKLOG_LINGER, for a
        full request instead (backlog_upload_size events, or the byte limit)."""
        c = self.consumer
        progress = c.progress
        backlog = len(queue) >= c.upload_size and c.backlog_upload_size > c.upload_size
        linger_until = monotonic() + (min(c.upload_interval, BACKLOG_LINGER) if backlog else c.upload_interval)
        while not c.stopping and c.flush_target <= progress.dequeued:
            if queue.oldest_complete() if backlog else len(queue) >= c.upload_size:
                return
            if len(queue) >= c.half_full or not queue:  # half full: keep room for the callers; or taken
                return
            remaining = linger_until - monotonic()
            if remaining <= 0:
                return
            c.not_empty.wait(remaining)

    def _pop_due_hold(self) -> Optional[InFlight]:
        """(lock held) A held record whose time has come, or None."""
        c = self.consumer
        now = monotonic()
        while True:
            token = c.holds.pop_due(now)
            if token is None:
                return None
            record = c.progress.in_flight.get(token)
            if record is not None and not record.abandoned:
                return record  # (entries of records a shutdown already reported are skipped)

    def _until_next_hold(self) -> Optional[float]:
        """(lock held) How long an idle uploader may sleep: until the next hold is due,
        or the shutdown deadline, whichever is first."""
        c = self.consumer
        wake_at = c.holds.next_due()
        if wake_at is None:
            return None
        if c.deadline is not None:
            wake_at = min(wake_at, c.deadline)
        return min(MAX_WAIT, max(0.0, wake_at - monotonic()))
