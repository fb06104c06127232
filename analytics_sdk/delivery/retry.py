"""Pure retry policy: classify a response, and say how long to wait before the next try.

No sleeping and no I/O here: the consumer asks :meth:`RetryState.next_delay` and
does the waiting itself (on an event, so shutdown can cut a wait short).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Generator, Optional

import backoff

__all__ = [
    "Verdict",
    "classify",
    "drop_reason",
    "parse_retry_after",
    "RetryPolicy",
    "RetryState",
]


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    SPLIT = "split"  # 400/413: halve the batch to isolate the bad message(s)
    DROP = "drop"


_NOT_RETRIED_5XX = {501, 505}  # "not implemented" / "version not supported" never heal


def classify(status: Optional[int]) -> Verdict:
    """What to do after an attempt; ``None`` means no response (connection error, timeout)."""
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (400, 413):
        return Verdict.SPLIT
    if status in (408, 429) or (500 <= status < 600 and status not in _NOT_RETRIED_5XX):
        return Verdict.RETRY
    return Verdict.DROP


def drop_reason(status: Optional[int]) -> str:
    """The drop reason reported for a final status (docs/delivery.md, "What happens when")."""
    if status is None:
        return "retries_exhausted"
    if status == 400:
        return "invalid"
    if status == 413:
        return "too_large"
    if status in (401, 403):
        return "unauthorized"
    if classify(status) is Verdict.RETRY:
        return "retries_exhausted"
    return "rejected"


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    Returns None when absent or unreadable; never negative.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # RFC 5322 "-0000" yields a naive datetime; it means UTC
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one batch.

    ``max_retries`` retries after the first attempt, all within ``max_elapsed``
    seconds from the first attempt; a server's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds; backoff waits grow exponentially from
    ``backoff_base`` up to ``backoff_max``, with jitter.
    """

    max_retries: int = 10
    max_elapsed: float = 300.0
    max_retry_after: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def start(self, now: Optional[float] = None) -> "RetryState":
        return RetryState(self, time.monotonic() if now is None else now)


@dataclass
class RetryState:
    """Retry bookkeeping for one batch: attempts made and the backoff sequence."""

    policy: RetryPolicy
    started: float
    attempts: int = 0
    _waits: Generator[float, None, None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._waits = backoff.expo(base=2, factor=self.policy.backoff_base, max_value=self.policy.backoff_max)
        next(self._waits)  # backoff's generators are primed with one next()

    def copy(self) -> "RetryState":
        """The same history (attempts, start) with a backoff sequence of its own."""
        twin = RetryState(self.policy, self.started)
        for _ in range(self.attempts):
            twin.next_delay(now=self.started)  # advance the waits as far as ours went
        return twin

    def next_delay(self, retry_after: Optional[float] = None, now: Optional[float] = None) -> Optional[float]:
        """Record a failed attempt; return seconds to wait before the next, or None to give up."""
        self.attempts += 1
        if self.attempts > self.policy.max_retries:
            return None
        backoff_wait = next(self._waits)
        # Equal jitter: never a tight loop, still spread out across processes.
        delay = backoff_wait / 2 + backoff.full_jitter(backoff_wait / 2)
        if retry_after is not None:
            delay = max(min(retry_after, self.policy.max_retry_after), 0.0)
        elapsed = (time.monotonic() if now is None else now) - self.started
        if elapsed + delay > self.policy.max_elapsed:
            return None
        return delay
