"""Warnings the user must hear even when the application configured no logging.

The ``analytics_sdk`` logger carries a ``NullHandler`` (a library must not print
by default), which also silences Python's last-resort handler. A few conditions
are the user's to fix and would otherwise go unseen: an unusable ``spool_path``,
a ``flush()`` that waits on a failing destination. They are logged as usual and,
when no handler anywhere would take the record, also written to stderr through
``logging.lastResort``: what Python does for any library without a NullHandler.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Iterator

__all__ = ["is_heard", "warn_audibly", "FlushWatch"]

log = logging.getLogger("analytics_sdk")


def is_heard(logger: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` reaches a real handler (a NullHandler is none)."""
    current: Any = logger
    while current is not None:
        for handler in current.handlers:
            if not isinstance(handler, logging.NullHandler) and level >= handler.level:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def warn_audibly(logger: logging.Logger, message: str, *args: Any) -> None:
    """Log a WARNING; on stderr too when the application configured no logging."""
    if not logger.isEnabledFor(logging.WARNING):
        return  # the application turned this logger down on purpose
    record = logger.makeRecord(logger.name, logging.WARNING, "(analytics_sdk)", 0, message, args, None)
    logger.handle(record)
    last_resort = logging.lastResort
    if last_resort is not None and not is_heard(logger, logging.WARNING):
        last_resort.handle(record)


class FlushWatch:
    """One warning per ``flush()`` wait when the destination it waits for starts retrying.

    ``Client.flush`` marks the wait (``waiting()``); the uploader says when it
    schedules a retry (``retrying()``). Retries with nobody waiting stay quiet, as
    before: their outcome is reported anyway, and a flush that returns in time
    needs no word.
    """

    def __init__(self, destination: str) -> None:
        self.destination = destination
        # Reentrant: a signal handler's flush() may interrupt waiting() on its thread. Its
        # whole wait then nests inside, +1 and -1, so the interrupted count stays right.
        self._lock = threading.RLock()
        self._waiting = 0
        self._warned = False

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        with self._lock:
            if self._waiting == 0:
                self._warned = False  # a new wait gets its own warning
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1

    def retrying(self, delay: float, budget: float) -> None:
        with self._lock:
            if not self._waiting or self._warned:
                return
            self._warned = True
        warn_audibly(
            log,
            "analytics_sdk: flush() is waiting for %s, whose request failed; retrying (next in %.1f s) "
            "for up to %.0f s (max_total_backoff_duration). flush(timeout=...) bounds the wait; "
            "debug=True logs each attempt",
            self.destination or "the destination",
            delay,
            budget,
        )
