"""Pure bookkeeping for ``flush``: which queued messages have reached an outcome.

Every message gets a sequence number when queued (the running ``enqueued``
count); the queue is FIFO, and each in-flight record (a batch an uploader holds,
or events held back for a throttled user) remembers the lowest sequence number
it came from. Everything below ``low_water()`` is finished, so a flush that
started when ``enqueued`` was N is done once ``low_water() >= N``.

Not thread-safe by itself: the consumer guards it with its lock.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .retry import RetryState

__all__ = ["Part", "InFlight", "Progress", "ON_DISK"]

# The first_seq of a record of rows on disk: never holds back flush's low-water mark
# (the rows are tracked in the file), and kept, not reported, at a deadline.
ON_DISK = sys.maxsize


@dataclass
class Part:
    """Events that travel together in one request, with their retry history."""

    items: Sequence[bytes]
    retry: Optional[RetryState] = None  # made on the first failure: most parts never need one
    due: float = 0.0  # monotonic time before which it must not be sent (a backoff or a hold)
    attempts: int = 0  # requests already made for these events
    resend: bool = False  # a retry, a split half or a hold: counted in retried_requests
    in_doubt: bool = False  # a request of these went out whole, unanswered: the server may have them (doubt.py)


@dataclass
class InFlight:
    """What one uploader (or the hold list) holds: the lowest sequence number and the parts left."""

    first_seq: int
    parts: List[Part] = field(default_factory=list)
    abandoned: bool = False  # reported (or kept on disk) by a shutdown that gave up waiting
    token: int = -1  # its key in Progress.in_flight
    # Held-back events stay in this record and its uploader waits for them (rows
    # claimed on disk; sync_mode's caller), instead of waiting in the hold heap.
    hold_inline: bool = False
    rowids: List[int] = field(default_factory=list)  # its rows in the spool, deleted once settled
    storing: bool = False  # the spool writer is storing it: the writer reports what it cannot

    @property
    def on_disk(self) -> bool:
        return self.first_seq == ON_DISK

    def items(self) -> List[bytes]:
        return [item for part in self.parts for item in part.items]


class Progress:
    """Sequence numbers of queued, taken and in-flight messages."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.dequeued = 0
        self.in_flight: Dict[int, InFlight] = {}

    def take(self, token: int, items: Sequence[bytes]) -> InFlight:
        """Record that an uploader took ``items`` (the oldest queued) under ``token``."""
        record = InFlight(first_seq=self.dequeued, parts=[Part(items)], token=token)
        self.in_flight[token] = record
        self.dequeued += len(items)
        return record

    def low_water(self) -> int:
        """Sequence number below which every message is finished."""
        low = self.dequeued
        for record in self.in_flight.values():
            if record.first_seq < low:
                low = record.first_seq
        return low

    def done(self, target: int) -> bool:
        return self.low_water() >= target
