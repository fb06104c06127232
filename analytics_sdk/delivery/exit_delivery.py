"""Delivery at process exit: every way a process with our workers can end normally.

A worker (a consumer, a destination-plugin worker) registers with its client's
``exit_timeout``; at exit every registered worker that still holds work delivers,
in parallel, each within its own deadline. A worker is anything with
``begin_shutdown(deadline)``, ``finish_shutdown(deadline)``, ``closed`` and
``pending``; it is held only weakly.

The exits, and what runs our delivery on each:

- the interpreter's normal exit: ``atexit``;
- a multiprocessing child (fork, spawn, forkserver), which ends with ``os._exit()``
  and skips atexit: one of multiprocessing's exit finalizers, set up again in each
  child (multiprocessing clears the finalizers after the fork);
- a billiard child (Celery's prefork pool): billiard's finalizers, and Celery's
  ``worker_process_shutdown`` signal, sent just before a pool worker's ``os._exit()``;
- SIGTERM: ``sigterm`` turns it into one of the exits above, or calls
  :func:`deliver_pending_now` from a thread when the main thread cannot exit.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
import threading
import time
import weakref
from typing import Any, Callable, List, Optional

from ..process import on_fork_child
from . import reraise

__all__ = ["DEFAULT_EXIT_TIMEOUT", "register_exit_timeout", "exit_timeout_of", "longest_exit_timeout",
           "exit_delivery_started", "main_thread_delivering", "shutdown_all_at_exit", "deliver_pending_now",
           "multiprocessing_exit_underway", "when_multiprocessing_child_starts"]

log = logging.getLogger("analytics_sdk")

DEFAULT_EXIT_TIMEOUT = 5.0

_exit_timeouts: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()


def register_exit_timeout(worker: Any, timeout: float) -> None:
    """Deliver what ``worker`` still holds at interpreter exit, within ``timeout``."""
    _exit_timeouts[worker] = timeout
    _ensure_multiprocessing_exit_hook()


def exit_timeout_of(worker: Any) -> float:
    """How long ``worker`` may deliver at exit (its client's ``exit_timeout``)."""
    return _exit_timeouts.get(worker, DEFAULT_EXIT_TIMEOUT)


def longest_exit_timeout() -> float:
    """The longest exit deadline of the registered workers (0 when there is none)."""
    return max(list(_exit_timeouts.values()) or [0.0])


_exiting = False  # the main thread's delivery at exit has begun: a SIGTERM now must not interrupt it
_main_thread_delivering = False  # ... and is still running (the application's own handler waits for it)
_delivering = threading.Lock()  # one exit delivery at a time (the main thread's, or the watcher's)
_delivering_type = threading.Lock


def _delivery_lock() -> Any:
    """``_delivering``, of the patched kind once gevent or eventlet patched threading
    after our import (green.py): it is held while greenlets deliver."""
    global _delivering, _delivering_type
    if _delivering_type is not threading.Lock and not _delivering.locked():
        _delivering, _delivering_type = threading.Lock(), threading.Lock
    return _delivering


def exit_delivery_started() -> bool:
    """Whether the interpreter is exiting and our exit delivery has begun (an atexit
    handler that runs after ours may still track: it must not count on a new thread)."""
    return _exiting


def main_thread_delivering() -> bool:
    """Whether the main thread is delivering at exit right now (a flag: no lock, so
    that a signal handler may ask)."""
    return _main_thread_delivering


def shutdown_all_at_exit() -> None:
    """Drain every registered worker in parallel, each within its own exit timeout."""
    global _exiting, _main_thread_delivering
    main = threading.current_thread() is threading.main_thread()
    if main:
        _exiting = _main_thread_delivering = True
    try:
        with _delivery_lock():  # the watcher may be delivering for a stuck handler: wait for it, then check
            _deliver_pending()
    finally:
        if main:
            _main_thread_delivering = False
    if main:
        reraise.release()  # a server's re-raised SIGTERM, held until now, ends the process


def deliver_pending_now() -> None:
    """(a thread acting for a main thread that cannot exit) Deliver what is pending,
    or wait for the main thread's exit delivery when it has begun."""
    with _delivery_lock():
        _deliver_pending()


def _deliver_pending() -> None:
    # Closed workers too, when they still hold work: a client dropped without
    # shutdown(), or a shutdown() cut short by SIGTERM or Ctrl-C.
    pending = [(w, t) for w, t in list(_exit_timeouts.items()) if not w.closed or w.pending]
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


# -- multiprocessing and billiard children ---------------------------------------------

_mp_hook_pid: Optional[int] = None
_mp_start_hook_pid: Optional[int] = None
_mp_start_anchor: Optional["weakref.ReferenceType[Any]"] = None  # (in this pid) what the hook hangs on
_child_start_hooks: List[Callable[[], None]] = []


def when_multiprocessing_child_starts(hook: Callable[[], None]) -> None:
    """Call ``hook()`` on the main thread of every multiprocessing child of a process
    with workers, once the child knows its parent (any start method)."""
    _child_start_hooks.append(hook)


def multiprocessing_exit_underway(frame: Any) -> bool:
    """Whether this process is a multiprocessing child on its way to our exit finalizer:
    multiprocessing's exit function is running (or has run) here.

    A Pool worker that got its sentinel just before ``terminate()``'s SIGTERM is
    already inside ``multiprocessing.util._exit_function``, which is about to call
    our finalizer. A SystemExit raised there would unwind it before that finalizer
    runs, and the child then ends with os._exit(): everything queued would be lost.
    Its ``_exiting`` flag is set a few bytecodes into the function, so the frames
    are checked too (a signal handler can run on the function's first instruction).
    """
    mp_util = sys.modules.get("multiprocessing.util")
    if _mp_hook_pid != os.getpid() or mp_util is None:
        return False
    if getattr(mp_util, "_exiting", False):
        return True
    exit_code = getattr(getattr(mp_util, "_exit_function", None), "__code__", None)
    while frame is not None:
        if frame.f_code is exit_code:
            return True
        frame = frame.f_back
    return False


def _ensure_multiprocessing_exit_hook() -> None:
    """multiprocessing children end with os._exit(), which skips atexit; they do run
    multiprocessing's exit finalizers, so deliver from one of those too. The same for
    billiard's children (Celery's prefork pool), whose pool workers end with os._exit()
    even before the finalizers: Celery's worker_process_shutdown signal runs before."""
    global _mp_hook_pid
    mp = sys.modules.get("multiprocessing")
    if mp is None or _mp_hook_pid == os.getpid():
        return
    billiard_util = _billiard_child_util()
    if mp.parent_process() is None and billiard_util is None:
        # Not a child, or not one yet: a spawn or forkserver child builds its module-level
        # clients before it knows its parent (and then clears the finalizers).
        _on_multiprocessing_child_start()
        return
    _mp_hook_pid = os.getpid()
    import multiprocessing.util

    multiprocessing.util.Finalize(None, shutdown_all_at_exit, exitpriority=10)
    if billiard_util is not None:
        if billiard_util.Finalize is not multiprocessing.util.Finalize:  # billiard < 4 has its own registry
            billiard_util.Finalize(None, shutdown_all_at_exit, exitpriority=10)
        _connect_celery_child_exit()


def _billiard_child_util() -> Any:
    """billiard.util when this process is a billiard child (it knows its parent), else None."""
    process = sys.modules.get("billiard.process")
    if process is None:
        return None
    try:
        if getattr(process.current_process(), "_parent_pid", None) is None:
            return None
        return importlib.import_module("billiard.util")
    except Exception:  # noqa: BLE001 - an unexpected billiard: no hook rather than a failed client
        return None


def _connect_celery_child_exit() -> None:
    """A Celery pool worker ends with os._exit() right after Celery sends
    worker_process_shutdown (max-tasks-per-child, warm shutdown): deliver there."""
    signals = sys.modules.get("celery.signals")
    if signals is None:
        return
    try:
        signals.worker_process_shutdown.connect(_on_celery_child_exit, weak=False, dispatch_uid="analytics_sdk.exit_delivery")
    except Exception:  # noqa: BLE001
        log.exception("analytics_sdk: could not hook Celery's worker_process_shutdown")


def _on_celery_child_exit(**_: Any) -> None:
    shutdown_all_at_exit()


def _on_multiprocessing_child_start() -> None:
    """Run _multiprocessing_child_started in every multiprocessing child of this process
    (any start method): multiprocessing calls its after-fork hooks on the child's main
    thread once the child knows its parent, after clearing the finalizers."""
    global _mp_start_hook_pid, _mp_start_anchor
    mp_util = sys.modules.get("multiprocessing.util")
    anchor = next(iter(_exit_timeouts.keys()), None)  # held weakly by multiprocessing
    if mp_util is None or anchor is None:
        return
    if _mp_start_hook_pid == os.getpid() and _mp_start_anchor is not None and _mp_start_anchor() is not None:
        return  # registered here, on a worker still alive
    _mp_start_hook_pid, _mp_start_anchor = os.getpid(), weakref.ref(anchor)
    mp_util.register_after_fork(anchor, _multiprocessing_child_started)
    billiard_util = sys.modules.get("billiard.util")  # billiard >= 4 shares multiprocessing's registry
    if billiard_util is not None and getattr(billiard_util, "register_after_fork", None) not in (None, mp_util.register_after_fork):
        billiard_util.register_after_fork(anchor, _multiprocessing_child_started)


def _multiprocessing_child_started(_anchor: Any) -> None:
    _ensure_multiprocessing_exit_hook()
    for hook in list(_child_start_hooks):
        hook()


def _reinit_after_fork() -> None:
    global _delivering, _delivering_type
    _delivering, _delivering_type = threading.Lock(), threading.Lock  # a parent's thread may have held it at the fork
    # A multiprocessing child clears multiprocessing's finalizers right after the
    # fork; set ours up again from its own after-fork hook.
    _on_multiprocessing_child_start()


atexit.register(shutdown_all_at_exit)
on_fork_child(_reinit_after_fork)
