"""Re-initialisation of clients and workers in a fork child.

``process`` notices the fork (however it was made) and calls this module's hooks:
each client's counters and locks are reset (``reset_after_fork``), each worker
gets a fresh lock, queue and threads (``track_worker``), and once every reset
has run, a worker whose spool backlog the child took starts sending it. A worker
is anything with ``after_fork_in_child()`` (and optionally ``start_taken_backlog()``),
held only weakly.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from ..process import on_fork_child, when_fork_child_ready

__all__ = ["track_worker", "reset_after_fork"]

log = logging.getLogger("analytics_sdk")

_live_workers: "weakref.WeakSet[Any]" = weakref.WeakSet()
_fork_reset: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track_worker(worker: Any) -> None:
    """Re-initialise ``worker`` in every fork child (fresh lock, queue, threads)."""
    _live_workers.add(worker)


def reset_after_fork(obj: Any) -> None:
    """Call ``obj.after_fork()`` in every fork child (counters and locks of a client)."""
    _fork_reset.add(obj)


def _reinit_after_fork() -> None:
    for obj in list(_fork_reset):
        try:
            obj.after_fork()
        except Exception:  # noqa: BLE001
            log.exception("analytics_sdk: could not reset state after fork")
    for worker in list(_live_workers):
        try:
            worker.after_fork_in_child()
        except Exception:  # noqa: BLE001 - one broken client must not break the others
            log.exception("analytics_sdk: could not reset a client after fork")


def _start_taken_backlogs() -> None:
    for worker in list(_live_workers):
        start = getattr(worker, "start_taken_backlog", None)
        if start is not None:
            try:
                start()
            except Exception:  # noqa: BLE001
                log.exception("analytics_sdk: could not start sending after fork")


on_fork_child(_reinit_after_fork)
when_fork_child_ready(_start_taken_backlogs)
