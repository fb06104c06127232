"""The end of a consumer: wait for the drain until a deadline, then report what is left.

One path for every backlog: what only memory holds is reported as
``shutdown_timeout`` (each event once); rows on disk stay there for the next
process (the backlog keeps them); an uploader still reporting gets a short grace.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List

from .callbacks import in_user_code
from .clock import MAX_WAIT, monotonic

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Shutdown"]

log = logging.getLogger("analytics_sdk")


class Shutdown:
    """``finish_shutdown`` of one consumer."""

    def __init__(self, consumer: "Consumer") -> None:
        self.consumer = consumer

    def finish(self, deadline: float) -> bool:
        """Wait for the drain until ``deadline``; report whatever could not be sent."""
        if in_user_code():
            return False
        c = self.consumer
        with c.lock:
            target = c.progress.enqueued
        c.backlog.drain_without_threads()
        done = c.backlog.wait_flushed(target, deadline)
        c.backlog.tidy()
        if not done:
            self.give_up()
            c.uploader.wait_for_reports(deadline)
        for thread in c.threads:
            thread.join(max(0.0, min(deadline - monotonic(), MAX_WAIT)))
        self._close_transport()
        return done

    def give_up(self, detail: str = "still queued when the shutdown deadline passed") -> None:
        """The deadline passed: report what is queued and what is in flight (from now on,
        what an uploader would put back is reported instead); rows stay on disk."""
        c = self.consumer
        with c.lock:
            stranded: List[bytes] = list(c.queue)
            c.progress.dequeued += len(stranded)
            c.queue.clear()
            c.backlog.taken(len(stranded))
            records = list(c.progress.in_flight.values())
            c.gave_up = True
        if stranded:
            c.outcomes.drop("shutdown_timeout", stranded, detail)
        for record in records:
            c.uploader.report_abandoned(record, "shutdown_timeout", "still sending when the shutdown deadline passed")
        with c.lock:  # reported: a later flush() must not wait for them
            for record in records:
                c.progress.in_flight.pop(record.token, None)
            c.holds.clear()
            c.changed.notify_all()

    def _close_transport(self) -> None:
        """Close the keep-alive connections the uploaders leave (else each is closed by
        the garbage collector, a ResourceWarning under ``python -X dev``)."""
        try:
            self.consumer.transport.close()
        except Exception:  # noqa: BLE001 - a replacement transport's bug must not break a shutdown
            log.debug("analytics_sdk: transport close() raised", exc_info=True)
