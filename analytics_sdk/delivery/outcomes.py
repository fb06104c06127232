"""The one place where every terminal outcome is counted and drops are reported.

One ``Outcomes`` per destination of a client (and one for the client itself,
for what happens before routing: plugins, opt-out). A message ends, per
destination, as delivered or as exactly one drop with a reason. Drops are
counted by reason, logged (one warning per burst, never message contents above
DEBUG) and handed to the user's ``on_error(error, messages)``; outcome callbacks
(``callbacks.py``) hear about deliveries too. A callback that raises is logged
and swallowed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from ..errors import DeliveryError
from ..json_codec import decode
from .callbacks import DELIVERED_MESSAGE, Callbacks, user_code
from .notices import FlushWatch
from .reentry import Section, hands_to_the_application

if TYPE_CHECKING:
    from ..wire.base import Destination

__all__ = ["DROP_REASONS", "QUIET_OUTCOMES", "Outcomes", "ErrorCallback"]

log = logging.getLogger("analytics_sdk")

ErrorCallback = Callable[[Exception, List[Dict[str, Any]]], Any]

# Every reason a message can be dropped for (docs/delivery.md, "Drop reasons").
DROP_REASONS = (
    "queue_full",  # the in-memory queue was full at call time
    "too_large",  # over 32 KB at call time, or 413 for the message alone
    "invalid",  # 400 for the message alone
    "unauthorized",  # 401 / 403
    "rejected",  # any other non-retryable status
    "retries_exhausted",  # retryable failures beyond max_retries or the time budget
    "shutdown_timeout",  # still pending when the flush/shutdown deadline ran out at exit
    "outcome_unknown",  # sent whole, no answer before the exit deadline: the server may have stored them (doubt.py)
    "client_closed",  # called after shutdown()/join()
    "spool_full",  # the on-disk spool was at spool_max_messages
    "spool_unavailable",  # the spool could not be written (full disk, lost directory, locked) and memory had no room
    "plugin_error",  # a plugin raised (before/enrichment: the message was not sent; destination plugin: it did not get it)
    "unsendable",  # a destination cannot represent the message (e.g. an alias where the backend has none)
    "quota_exceeded",  # the backend's quota for this user/device is used up (Amplitude's daily limit)
)

# Counted in stats() but never reported as errors: the user asked for them.
QUIET_OUTCOMES = ("filtered", "opted_out")

_WARN_EVERY = 10.0  # seconds: one warning per reason per burst


class Outcomes:
    """Thread-safe counters plus the drop-reporting path."""

    def __init__(
        self,
        on_error: Optional[ErrorCallback] = None,
        destination: Optional["Destination"] = None,
        callbacks: Optional[Callbacks] = None,
    ) -> None:
        self.on_error = on_error
        self.destination = destination
        self.callbacks = callbacks or Callbacks()
        self._section = Section()  # a signal handler's drop may interrupt a drop on its thread
        self.flush_watch = FlushWatch(destination.name if destination is not None else "")
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.delivered_count = 0
        self.retried_requests = 0
        self.dropped: Dict[str, int] = {}
        self.quiet: Dict[str, int] = {}
        self._last_warned: Dict[str, float] = {}
        self._unwarned: Dict[str, int] = {}

    def after_fork(self) -> None:
        """A child starts with its own counters (and a lock no thread holds)."""
        self._section = Section()
        self.flush_watch = FlushWatch(self.flush_watch.destination)  # no flush waits in the child yet
        self._reset_counters()
        self.callbacks.after_fork()

    def delivered(self, items: Sequence[bytes], status: Optional[int] = None, attempts: int = 0) -> None:
        self._section.update(self._count_delivered, len(items))
        if self.callbacks.active:
            self.callbacks.fire(self._events(items), status or 200, DELIVERED_MESSAGE, attempts)

    def count_quiet(self, outcome: str, n: int = 1) -> None:
        """Count an outcome the user asked for (``filtered``, ``opted_out``): no report."""
        self._section.update(_add, self.quiet, outcome, n)

    def count_retry(self, n: int = 1) -> None:
        self._section.update(self._count_retry, n)

    def _count_delivered(self, n: int) -> None:
        self.delivered_count += n

    def _count_retry(self, n: int) -> None:
        self.retried_requests += n

    def snapshot(self) -> Dict[str, Any]:
        return self._section.read(self._snapshot)

    def _snapshot(self) -> Dict[str, Any]:
        return {
            "delivered": self.delivered_count,
            "retried_requests": self.retried_requests,
            "dropped": dict(self.dropped),
            "dropped_total": sum(self.dropped.values()),
            **self.quiet,
        }

    @hands_to_the_application  # (on_error)
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
        name = self.destination.name if self.destination is not None else None
        error = DeliveryError(reason, detail, status, attempts, destination=name)
        # (A signal handler's drop that interrupted a drop on its thread is counted as that
        # one ends, and told in the next warning.)
        suppressed = self._section.update(self._count_drop, reason, count, time.monotonic(),
                                          deferred=self._count_unwarned_drop)
        if suppressed is not None:
            extra = f" (and {suppressed} more since the last warning)" if suppressed else ""
            where = f" for {name}" if name else ""
            log.warning("analytics_sdk dropped %d message(s)%s%s: %s", count, where, extra, error)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dropped messages (%s): %r", reason, [self._as_dict(m) for m in messages])
        callback = self.on_error
        if callback is not None:
            try:
                with user_code():
                    callback(error, [self._as_dict(m) for m in messages])
            except Exception:  # noqa: BLE001 - the user's hook must never kill the uploader
                log.exception("analytics_sdk: on_error callback raised; ignoring")
        if self.callbacks.active:
            self.callbacks.fire(self._events(messages), status or 0, str(error), attempts)
        return error

    def _count_drop(self, reason: str, count: int, now: float) -> Optional[int]:
        """Count it; if a warning is due, how many drops it has not told yet (else None)."""
        _add(self.dropped, reason, count)
        last = self._last_warned.get(reason)
        if last is None or now - last >= _WARN_EVERY:
            self._last_warned[reason] = now
            return self._unwarned.pop(reason, 0)
        _add(self._unwarned, reason, count)
        return None

    def _count_unwarned_drop(self, reason: str, count: int, _now: float) -> None:
        _add(self.dropped, reason, count)
        _add(self._unwarned, reason, count)

    def _events(self, messages: Sequence[Any]) -> List[Any]:
        """``(event dict, messageId)`` pairs for outcome callbacks."""
        destination = self.destination
        pairs = []
        for message in messages:
            event = self._as_dict(message)
            try:
                if destination is not None:
                    message_id = destination.message_id(event)
                else:
                    message_id = event.get("messageId") if isinstance(event, dict) else None
            except Exception:  # noqa: BLE001 - a destination's bug must not cost an outcome
                message_id = None
            pairs.append((event, message_id))
        return pairs

    def _as_dict(self, message: Any) -> Any:
        if isinstance(message, (bytes, bytearray)):
            if self.destination is not None:
                try:
                    return self.destination.event(bytes(message))
                except Exception:  # noqa: BLE001 - a destination's bug must not cost an outcome
                    return {"raw": bytes(message).decode("utf-8", "replace")}
            try:
                return decode(bytes(message))
            except ValueError:
                return {"raw": bytes(message).decode("utf-8", "replace")}
        return message


def _add(counts: Dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n
