"""Pure retry policy: how long to wait before the next try (``Verdict``, ``classify``,
``drop_reason`` and ``parse_retry_after`` live in ``wire/reply.py``).

No sleeping and no I/O here: the consumer asks :meth:`RetryState.next_delay` and
does the waiting itself (on an event, so shutdown can cut a wait short).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generator, Optional

import backoff

# Reading a status is the destinations' job (wire/reply.py); the names stay here too.
from ..wire.reply import Action as Verdict
from ..wire.reply import classify, drop_reason, parse_retry_after

__all__ = [
    "Verdict",
    "classify",
    "drop_reason",
    "parse_retry_after",
    "RetryPolicy",
    "RetryState",
]


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
