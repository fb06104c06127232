"""Pure: the one reply vocabulary, from a status code to what happens to each event.

A transport's :class:`~analytics_sdk.delivery.transport.Attempt` (status, body,
Retry-After) is read by a destination into a :class:`Reply`; the engine applies
the reply to the events it sent. :class:`Action` is the one enum for "what next"
(``analytics_sdk.delivery.retry.Verdict`` is the same enum, its older name).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Mapping, Optional, Tuple

__all__ = ["Action", "Reply", "classify", "drop_reason", "parse_retry_after", "reply_from_status"]


class Action(enum.Enum):
    """What happens to the events of a request that a reply does not single out."""

    DELIVERED = "delivered"
    RETRY = "retry"  # send again after a backoff (or the server's Retry-After)
    SPLIT = "split"  # 400/413: too big or one bad event poisons it: halve; one event alone is dropped
    DROP = "drop"  # never deliverable: report with ``Reply.reason``


@dataclass(frozen=True)
class Reply:
    """A destination's reading of one response to a request of ``n`` events.

    ``drops`` and ``holds`` name events by their index in the request; every other
    event gets ``action``. ``status`` is the code reported to callbacks (the HTTP
    status, or the code a backend puts in its body).
    """

    action: Action
    status: Optional[int] = None
    reason: str = ""  # drop reason for DROP, and for SPLIT of a single event
    detail: str = ""
    retry_after: Optional[float] = None  # seconds the server asked for (RETRY)
    drops: Mapping[int, Tuple[str, str]] = field(default_factory=dict)  # index -> (reason, detail)
    holds: Mapping[int, float] = field(default_factory=dict)  # index -> seconds to hold back, then resend


_NOT_RETRIED_5XX = {501, 505}  # "not implemented" / "version not supported" never heal


def classify(status: Optional[int]) -> Action:
    """What to do after an attempt; ``None`` means no response (connection error, timeout)."""
    if status is None:
        return Action.RETRY
    if 200 <= status < 300:
        return Action.DELIVERED
    if status in (400, 413):
        return Action.SPLIT
    if status in (408, 429) or (500 <= status < 600 and status not in _NOT_RETRIED_5XX):
        return Action.RETRY
    return Action.DROP


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
    if classify(status) is Action.RETRY:
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


def reply_from_status(status: Optional[int], retry_after: Optional[float] = None, detail: str = "") -> Reply:
    """All-or-nothing by status code, as the Segment Tracking API (and mParticle) mean it.

    2xx delivered; 400/413 split to isolate the bad or oversized event; 408, 429 and
    5xx (but 501/505) and no response retried; 401/403 and other codes dropped.
    """
    action = classify(status)
    if action is Action.DELIVERED:
        return Reply(Action.DELIVERED, status)
    if action is Action.RETRY:
        return Reply(Action.RETRY, status, retry_after=retry_after, detail=detail)
    reason = drop_reason(status)
    if action is Action.SPLIT:
        return Reply(Action.SPLIT, status, reason=reason, detail=detail or "the server refused the message")
    return Reply(Action.DROP, status, reason=reason, detail=detail or "the server refused the message(s)")
