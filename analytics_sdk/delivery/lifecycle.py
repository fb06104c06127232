"""Process-wide hooks: delivery at interpreter exit and re-initialisation after ``fork()``.

One of each hook per process, holding the workers (consumers, destination-plugin
workers) only weakly. A worker is anything with ``begin_shutdown(deadline)``,
``finish_shutdown(deadline)``, ``closed``, ``depth`` and ``after_fork_in_child()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
import weakref
from typing import Any, Optional

__all__ = ["track_worker", "register_exit_timeout", "shutdown_all_at_exit"]

log = logging.getLogger("analytics_sdk")

_live_workers: "weakref.WeakSet[Any]" = weakref.WeakSet()
_exit_timeouts: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()


def track_worker(worker: Any) -> None:
    """Re-initialise ``worker`` in every fork child (fresh lock, queue, threads)."""
    _live_workers.add(worker)


def register_exit_timeout(worker: Any, timeout: float) -> None:
    """Deliver what ``worker`` still holds at interpreter exit, within ``timeout``."""
    _exit_timeouts[worker] = timeout
    _ensure_multiprocessing_exit_hook()


def shutdown_all_at_exit() -> None:
    """Drain every registered worker in parallel, each within its own exit timeout."""
    pending = [(w, t) for w, t in list(_exit_timeouts.items()) if not w.closed or w.depth]
    if not pending:
        return
    start = time.monotonic()
    for worker, timeout in pending:
        worker.begin_shutdown(start + timeout)
    for worker, timeout in pending:
        try:
            worker.finish_shutdown(start + timeout)
        except Exception:  # noqa: BLE001 - never turn exit into a traceback
            log.exception("analytics_sdk: error while delivering at exit")


def _reinit_after_fork() -> None:
    for worker in list(_live_workers):
        try:
            worker.after_fork_in_child()
        except Exception:  # noqa: BLE001 - one broken client must not break the others
            log.exception("analytics_sdk: could not reset a client after fork")
    # A multiprocessing child clears multiprocessing's finalizers right after the
    # fork; re-register ours from its own after-fork hook (see below).
    mp_util = sys.modules.get("multiprocessing.util")
    anchor = next(iter(_exit_timeouts.keys()), None)
    if mp_util is not None and anchor is not None:
        mp_util.register_after_fork(anchor, lambda _anchor: _ensure_multiprocessing_exit_hook())


_mp_hook_pid: Optional[int] = None


def _ensure_multiprocessing_exit_hook() -> None:
    """multiprocessing children end with os._exit(), which skips atexit; they do run
    multiprocessing's exit finalizers, so deliver from one of those too."""
    global _mp_hook_pid
    mp = sys.modules.get("multiprocessing")
    if _mp_hook_pid == os.getpid() or mp is None or mp.parent_process() is None:
        return
    _mp_hook_pid = os.getpid()
    import multiprocessing.util

    multiprocessing.util.Finalize(None, shutdown_all_at_exit, exitpriority=10)


atexit.register(shutdown_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
