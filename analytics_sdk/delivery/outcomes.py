"""The one place where every terminal outcome is counted and drops are reported.

A message ends as delivered, or as exactly one drop with a reason. Drops are
counted by reason, logged (one warning per burst, never message contents above
DEBUG) and handed to the user's ``on_error(error, messages)``; a callback that
raises is logged and swallowed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..errors import DeliveryError
from ..serialization import decode

__all__ = ["DROP_REASONS", "Outcomes", "ErrorCallback"]

log = logging.getLogger("analytics_sdk")

ErrorCallback = Callable[[Exception, List[Dict[str, Any]]], Any]

# Every reason a message can be dropped for (README: "Delivery guarantees").
DROP_REASONS = (
    "queue_full",  # the in-memory queue was full at call time
    "too_large",  # over 32 KB at call time, or 413 for the message alone
    "invalid",  # 400 for the message alone
    "unauthorized",  # 401 / 403
    "rejected",  # any other non-retryable status
    "retries_exhausted",  # retryable failures beyond max_retries or the time budget
    "shutdown_timeout",  # still pending when the flush/shutdown deadline ran out at exit
    "client_closed",  # called after shutdown()/join()
    "spool_full",  # the on-disk spool was at spool_max_messages
)

_WARN_EVERY = 10.0  # seconds: one warning per reason per burst


class Outcomes:
    """Thread-safe counters plus the drop-reporting path."""

    def __init__(self, on_error: Optional[ErrorCallback] = None) -> None:
        self.on_error = on_error
        self._lock = threading.Lock()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.delivered = 0
        self.retried_requests = 0
        self.dropped: Dict[str, int] = {}
        self._last_warned: Dict[str, float] = {}
        self._unwarned: Dict[str, int] = {}

    def after_fork(self) -> None:
        """A child starts with its own counters (and a lock no thread holds)."""
        self._lock = threading.Lock()
        self._reset_counters()

    def count_delivered(self, n: int) -> None:
        with self._lock:
            self.delivered += n

    def count_retry(self) -> None:
        with self._lock:
            self.retried_requests += 1

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "delivered": self.delivered,
                "retried_requests": self.retried_requests,
                "dropped": dict(self.dropped),
                "dropped_total": sum(self.dropped.values()),
            }

    def drop(
        self,
        reason: str,
        messages: Sequence[Any],
        detail: str = "",
        status: Optional[int] = None,
        attempts: int = 0,
    ) -> DeliveryError:
        """Record that ``messages`` (encoded bytes or dicts) will never be delivered."""
        count = len(messages)
        error = DeliveryError(reason, detail, status, attempts)
        now = time.monotonic()
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            last = self._last_warned.get(reason)
            if last is None or now - last >= _WARN_EVERY:
                self._last_warned[reason] = now
                suppressed = self._unwarned.pop(reason, 0)
                warn = True
            else:
                self._unwarned[reason] = self._unwarned.get(reason, 0) + count
                warn = False
        if warn:
            extra = f" (and {suppressed} more since the last warning)" if suppressed else ""
            log.warning("analytics_sdk dropped %d message(s)%s: %s", count, extra, error)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dropped messages (%s): %r", reason, [_as_dict(m) for m in messages])
        callback = self.on_error
        if callback is not None:
            try:
                callback(error, [_as_dict(m) for m in messages])
            except Exception:  # noqa: BLE001 - the user's hook must never kill the uploader
                log.exception("analytics_sdk: on_error callback raised; ignoring")
        return error


def _as_dict(message: Any) -> Any:
    if isinstance(message, (bytes, bytearray)):
        try:
            return decode(bytes(message))
        except ValueError:
            return {"raw": bytes(message).decode("utf-8", "replace")}
    return message
