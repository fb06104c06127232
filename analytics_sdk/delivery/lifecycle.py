"""Process-wide hooks: delivery at interpreter exit, on SIGTERM, and re-initialisation
after ``fork()``.

One of each hook per process, holding the workers (consumers, destination-plugin
workers) only weakly. A worker is anything with ``begin_shutdown(deadline)``,
``finish_shutdown(deadline)``, ``closed``, ``pending`` and ``after_fork_in_child()``.

SIGTERM (process managers, Kubernetes, systemd, ``Pool.terminate()``) kills a
Python process by default without running any exit hook: everything queued
would be lost. When the disposition is still the default, the first client
(made on any thread: see ``_ask_main_thread``) installs a handler that turns
SIGTERM into ``SystemExit(143)``, so the normal exit path delivers within the
exit deadline (or leaves it in the spool), and a watchdog terminates the process
as SIGTERM would if the application swallows that exit. SIG_IGN is never
replaced. A handler the application (a server: uvicorn, gunicorn's workers,
billiard's pool workers) installed keeps its policy, but gets ours chained in
front of it (``_SigtermChain``): some servers (uvicorn) shut down gracefully,
restore the default disposition and re-raise SIGTERM, which would end the process
without any exit hook; the chain holds that re-raise until exit delivery has run
(see ``reraise``). The handlers themselves take no lock: a signal can arrive while
the main thread holds one of ours.

In a multiprocessing child, a SIGTERM whose handler cannot run, because the
main thread is held in a blocking C call (see ``signal_watch``), is seen by a
watcher thread: after SIGTERM_GRACE it delivers within the exit deadlines and
ends the process with status 143, as the handler's exit would have.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any, Optional

from ..process import on_fork_child, when_fork_child_ready
from . import reraise, signal_watch

__all__ = ["track_worker", "exit_timeout_of", "exit_delivery_started", "reset_after_fork", "register_exit_timeout", "shutdown_all_at_exit", "install_sigterm_handler"]

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


DEFAULT_EXIT_TIMEOUT = 5.0


def exit_timeout_of(worker: Any) -> float:
    """How long ``worker`` may deliver at exit (its client's ``exit_timeout``)."""
    return _exit_timeouts.get(worker, DEFAULT_EXIT_TIMEOUT)


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


def install_sigterm_handler() -> bool:
    """Deliver at SIGTERM (see the module docstring). Returns whether our handler is in place.

    Only the main thread may set signal handlers; from another thread (a sync
    endpoint's thread pool making the lazy client) the main thread is asked to
    set it between two of its bytecodes (``_ask_main_thread``).
    """
    if not hasattr(signal, "SIGTERM"):
        return False
    if threading.current_thread() is not threading.main_thread():
        _ask_main_thread()
        return False
    if not _set_sigterm_handler():
        return False
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        _watch_if_multiprocessing_child()
    return True


def _set_sigterm_handler() -> bool:
    """(main thread) Ours while the disposition is the default; chained in front of the
    application's own handler, which keeps its policy; SIG_IGN (or a handler not set
    from Python) stays as it is."""
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm or isinstance(current, _SigtermChain):
        return True
    if current is signal.SIG_DFL:
        handler: Any = _on_sigterm
    elif callable(current):
        handler = _SigtermChain(current)
    else:
        return False
    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main interpreter, or an embedded runtime
        return False
    return True


_main_thread_call: Any = None  # the ctypes callback the main thread is asked to run (kept alive until then)


def _ask_main_thread() -> None:
    """Have the main thread run ``_set_sigterm_handler`` as soon as it runs Python code.

    CPython's ``Py_AddPendingCall`` queues a call that the main thread makes between
    two bytecodes, where it runs signal handlers. Without it, a server that owns
    SIGTERM and re-raises it (uvicorn) would end a process whose client was made in
    a thread pool without any delivery. Once per process; elsewhere (not CPython)
    the first client made on the main thread installs the handler.
    """
    global _main_thread_call
    if _main_thread_call is not None and _main_thread_call[0] == os.getpid():
        return
    try:
        import ctypes

        prototype = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        add_pending_call = prototype(("Py_AddPendingCall", ctypes.pythonapi))
        callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(_set_sigterm_handler_from_pending_call)
    except (ImportError, AttributeError, OSError, TypeError):
        return
    _main_thread_call = (os.getpid(), callback)
    if add_pending_call(ctypes.cast(callback, ctypes.c_void_p), None) != 0:
        _main_thread_call = None  # the queue was full: a later client asks again


def _set_sigterm_handler_from_pending_call(_arg: Any) -> int:
    # No thread is started here (see signal_watch's use in install_sigterm_handler):
    # like a signal handler, this may interrupt the main thread inside threading's locks.
    try:
        _set_sigterm_handler()
    except BaseException:  # noqa: BLE001 - an exception here would be reported as the interrupted code's
        log.debug("analytics_sdk: could not set the SIGTERM handler from the main thread", exc_info=True)
    return 0


class _SigtermChain:
    """Ours, in front of the application's SIGTERM handler (a server's), which keeps its
    policy: it runs at every SIGTERM. Before it runs, the main thread holds SIGTERM
    (``reraise``), so that a re-raise after the server's graceful shutdown waits for
    exit delivery instead of ending the process on the spot; a handler that exits at
    once (raises) needs no hold."""

    __slots__ = ("previous",)

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: Any) -> Any:
        if _main_thread_delivering:
            return None  # the main thread is delivering at exit: let it finish, as ours does
        if _exiting:
            return self.previous(signum, frame)  # delivered already (billiard's pool worker: ends at once)
        reraise.hold(signum, _deliver_for_reraise)
        try:
            return self.previous(signum, frame)
        except BaseException:
            # The handler chose to exit now (SystemExit: billiard's pool worker), where
            # exit delivery runs anyway: nothing to hold. And a later SIGTERM must reach
            # the main thread as before: billiard blocks it there, and only there, while
            # it holds a lock it shares with the pool.
            reraise.cancel()
            raise

    def __repr__(self) -> str:
        return f"<analytics_sdk SIGTERM chain before {self.previous!r}>"


def _deliver_for_reraise() -> None:
    """(reraise's watcher) The server re-raised SIGTERM and the main thread has not
    delivered: deliver for it (or wait for its delivery), then the process ends."""
    with _delivery_lock():
        _deliver_pending()


def _watch_if_multiprocessing_child() -> None:
    """A multiprocessing worker gets a watcher (see signal_watch): ``Pool.terminate()``
    SIGTERMs workers that wait for tasks in a semaphore, the case where the handler
    cannot run. Elsewhere the wakeup fd stays the application's: a library that holds
    it collides with event loops, and writes into whatever file reuses the number
    once a daemonising application has closed every descriptor."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return
    # A spawn or forkserver child importing the main module does not know its parent
    # yet; it says so (``_inheriting``), and spawn runs no after-fork hooks later.
    preparing = getattr(mp.current_process(), "_inheriting", False)
    if mp.parent_process() is not None or preparing:
        signal_watch.watch_sigterm(_after_sigterm)


SIGTERM_GRACE = 1.0  # seconds the handler gets to run before the watcher acts for it
_sigterm_handled = False  # our handler ran (set in the handler: no lock there)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_handled
    _sigterm_handled = True
    # A second SIGTERM terminates at once, as it would have without us.
    signal.signal(signum, signal.SIG_DFL)
    _start_watchdog(signum)
    if _exiting:
        return  # the main thread is delivering at exit already: let it finish
    if _mp_hook_pid == os.getpid() and _multiprocessing_exit_underway(frame):
        return  # a multiprocessing child on its way to our exit finalizer (see below): let it get there
    raise SystemExit(128 + signum)


def _multiprocessing_exit_underway(frame: Any) -> bool:
    """Whether multiprocessing's exit function is running (or has run) in this process.

    A Pool worker that got its sentinel just before ``terminate()``'s SIGTERM is
    already inside ``multiprocessing.util._exit_function``, which is about to call
    our finalizer. A SystemExit raised there would unwind it before that finalizer
    runs, and the child then ends with os._exit(): everything queued would be lost.
    Its ``_exiting`` flag is set a few bytecodes into the function, so the frames
    are checked too (the handler can run on the function's first instruction).
    """
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return False
    if getattr(mp_util, "_exiting", False):
        return True
    exit_code = getattr(getattr(mp_util, "_exit_function", None), "__code__", None)
    while frame is not None:
        if frame.f_code is exit_code:
            return True
        frame = frame.f_back
    return False


def _start_watchdog(signum: int) -> None:
    """If the exit we raise is swallowed (``except BaseException``), terminate anyway,
    once the longest exit deadline (plus a margin) has passed."""
    threading.Thread(target=_terminate_later, args=(signum,), name="analytics_sdk-sigterm-watchdog", daemon=True).start()


def _longest_exit_wait() -> float:
    return max(list(_exit_timeouts.values()) or [0.0]) + 2.0


def _terminate_later(signum: int) -> None:
    time.sleep(_longest_exit_wait())
    os.kill(os.getpid(), signum)  # the disposition is the default again: this ends the process


def _after_sigterm(signum: int) -> None:
    """(the watcher's thread) CPython took a SIGTERM: give our handler SIGTERM_GRACE to
    run. If it could not (the main thread is held in a blocking C call, see
    signal_watch), deliver for it; then end the process as SIGTERM would have,
    unless the handler ran meanwhile and the main thread is exiting by itself (its
    watchdog is the backstop)."""
    if signal.getsignal(signum) is not _on_sigterm and not _sigterm_handled:
        return  # the application's own handler took over: its signal, its policy
    deadline = time.monotonic() + SIGTERM_GRACE
    while not _sigterm_handled and time.monotonic() < deadline:
        time.sleep(0.02)
    if _sigterm_handled:
        return
    log.warning("analytics_sdk: SIGTERM could not reach the main thread; delivering what is queued, then exiting")
    with _delivery_lock():  # (if the main thread is delivering at exit already, this waits for it)
        _deliver_pending()
    if not _sigterm_handled:
        os._exit(128 + signum)


_fork_reset: "weakref.WeakSet[Any]" = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Call ``obj.after_fork()`` in every fork child (counters and locks of a client)."""
    _fork_reset.add(obj)


def _reinit_after_fork() -> None:
    global _sigterm_handled, _delivering, _delivering_type
    _sigterm_handled = False  # the parent's SIGTERM is not the child's
    _delivering, _delivering_type = threading.Lock(), threading.Lock  # a parent's thread may have held it at the fork
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
    # A multiprocessing child clears multiprocessing's finalizers right after the
    # fork; set ours up again from its own after-fork hook (see below).
    _on_multiprocessing_child_start()


_mp_hook_pid: Optional[int] = None
_mp_start_hook_pid: Optional[int] = None
_mp_start_anchor: Optional["weakref.ReferenceType[Any]"] = None  # (in this pid) what the hook hangs on


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
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # also for a handler a fork inherited
        _watch_if_multiprocessing_child()


atexit.register(shutdown_all_at_exit)
on_fork_child(_reinit_after_fork)


def _start_taken_backlogs() -> None:
    for worker in list(_live_workers):
        start = getattr(worker, "start_taken_backlog", None)
        if start is not None:
            try:
                start()
            except Exception:  # noqa: BLE001
                log.exception("analytics_sdk: could not start sending after fork")


when_fork_child_ready(_start_taken_backlogs)
