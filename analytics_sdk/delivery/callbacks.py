"""Amplitude-style outcome callbacks: ``callback(event, code, message)`` for every
event's outcome, delivered included; one for the client and, optionally, one per call.

A per-call callback is keyed by the message's messageId and fires once per
destination the message was queued to. Events are decoded for callbacks only
while a callback could fire, so a client without callbacks pays nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .reentry import hands_to_the_application

__all__ = ["Callbacks", "OutcomeCallback", "DELIVERED_MESSAGE", "user_code", "in_user_code", "outcome_attempts"]

log = logging.getLogger("analytics_sdk")

OutcomeCallback = Callable[[Dict[str, Any], int, str], Any]

# Set while an SDK thread runs user code (on_error, callbacks, a destination plugin).
# flush()/shutdown() called from there must not wait: the outcome they would wait
# for may need this very thread, or another SDK thread that waits for us.
_dispatch = threading.local()


def _marker() -> Any:
    """``_dispatch``, remade when gevent or eventlet patched threading after our import
    (green.py): the blocking kind of local would be one marker for every greenlet, and
    a flush() anywhere would stop waiting while an on_error somewhere ran."""
    global _dispatch
    if type(_dispatch) is not threading.local:
        _dispatch = threading.local()
    return _dispatch


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    marker = _marker()
    depth = getattr(marker, "depth", 0)
    marker.depth = depth + 1
    try:
        yield
    finally:
        marker.depth = depth


def in_user_code() -> bool:
    return getattr(_marker(), "depth", 0) > 0


def outcome_attempts() -> int:
    """In an outcome callback: how many requests carried the event (0: none, e.g. a
    refusal at call time). ``analytics_sdk.amplitude`` sets ``event.retry`` from it."""
    return getattr(_marker(), "attempts", 0)
DELIVERED_MESSAGE = "Event sent successfully."  # Amplitude's wording


class Callbacks:
    """The client's callback plus the per-call ones still waiting for outcomes."""

    def __init__(self, callback: Optional[OutcomeCallback] = None) -> None:
        self.callback = callback
        # Reentrant: a signal handler's track(callback=...) may interrupt a register() on its
        # thread. Each step is one call on a dict or list, so the nested one cannot undo it.
        self._lock = threading.RLock()
        self._per_call: Dict[str, List[List[Any]]] = {}  # messageId -> [[callback, outcomes left], ...]

    @property
    def active(self) -> bool:
        return self.callback is not None or bool(self._per_call)

    def after_fork(self) -> None:
        self._lock = threading.RLock()
        self._per_call = {}  # the parent's messages are the parent's

    def register(self, message_id: str, callback: OutcomeCallback, destinations: int) -> None:
        """Call ``callback`` for each of the ``destinations`` outcomes of ``message_id``."""
        with self._lock:  # a list: callers may reuse a messageId (Segment encourages it for retries)
            self._per_call.setdefault(message_id, []).append([callback, destinations])

    def _take(self, message_id: Optional[str]) -> Optional[OutcomeCallback]:
        if message_id is None:
            return None
        with self._lock:
            entries = self._per_call.get(message_id)
            if not entries:
                return None
            entry = entries[0]
            entry[1] -= 1
            if entry[1] <= 0:
                entries.pop(0)
                if not entries:
                    del self._per_call[message_id]
            return entry[0]

    @hands_to_the_application
    def fire(self, events: List[Tuple[Dict[str, Any], Optional[str]]], code: int, message: str, attempts: int = 0) -> None:
        """Report an outcome for ``(event, message_id)`` pairs; callbacks that raise are logged.
        ``attempts`` (requests that carried them) is readable there: ``outcome_attempts()``."""
        _marker().attempts = attempts
        for event, message_id in events:
            for callback in (self._take(message_id), self.callback):
                if callback is None:
                    continue
                try:
                    with user_code():
                        callback(event, code, message)
                except Exception:  # noqa: BLE001 - a user's hook must never kill the uploader
                    log.exception("analytics_sdk: outcome callback raised; ignoring")
