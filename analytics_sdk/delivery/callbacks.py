"""Amplitude-style outcome callbacks: ``callback(event, code, message)`` for every
event's outcome, delivered included; one for the client and, optionally, one per call.

A per-call callback is keyed by the message's messageId and fires once per
destination the message was queued to. Events are decoded for callbacks only
while a callback could fire, so a client without callbacks pays nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["Callbacks", "OutcomeCallback", "DELIVERED_MESSAGE"]

log = logging.getLogger("analytics_sdk")

OutcomeCallback = Callable[[Dict[str, Any], int, str], Any]
DELIVERED_MESSAGE = "Event sent successfully."  # Amplitude's wording


class Callbacks:
    """The client's callback plus the per-call ones still waiting for outcomes."""

    def __init__(self, callback: Optional[OutcomeCallback] = None) -> None:
        self.callback = callback
        self._lock = threading.Lock()
        self._per_call: Dict[str, Tuple[OutcomeCallback, int]] = {}

    @property
    def active(self) -> bool:
        return self.callback is not None or bool(self._per_call)

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._per_call = {}  # the parent's messages are the parent's

    def register(self, message_id: str, callback: OutcomeCallback, destinations: int) -> None:
        """Call ``callback`` for each of the ``destinations`` outcomes of ``message_id``."""
        with self._lock:
            self._per_call[message_id] = (callback, destinations)

    def _take(self, message_id: Optional[str]) -> Optional[OutcomeCallback]:
        if message_id is None:
            return None
        with self._lock:
            entry = self._per_call.get(message_id)
            if entry is None:
                return None
            callback, left = entry
            if left <= 1:
                del self._per_call[message_id]
            else:
                self._per_call[message_id] = (callback, left - 1)
            return callback

    def fire(self, events: List[Tuple[Dict[str, Any], Optional[str]]], code: int, message: str) -> None:
        """Report an outcome for ``(event, message_id)`` pairs; callbacks that raise are logged."""
        for event, message_id in events:
            for callback in (self._take(message_id), self.callback):
                if callback is None:
                    continue
                try:
                    callback(event, code, message)
                except Exception:  # noqa: BLE001 - a user's hook must never kill the uploader
                    log.exception("analytics_sdk: outcome callback raised; ignoring")
