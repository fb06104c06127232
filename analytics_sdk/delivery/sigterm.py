"""SIGTERM: delivery before the process ends, whoever owns the signal.

SIGTERM (process managers, Kubernetes, systemd, ``Pool.terminate()``) kills a
Python process by default without running any exit hook: everything queued
would be lost. When the disposition is still the default, the first client
(made on any thread: see ``_ask_main_thread``) installs a handler that turns
SIGTERM into ``SystemExit(143)``, so the normal exit path (``exit_delivery``)
delivers within the exit deadline (or leaves it in the spool), and a watchdog
terminates the process as SIGTERM would if the application swallows that exit.
A second SIGTERM ends the process at once, except in a multiprocessing child,
whose parent sends the later ones as part of its own shutdown (``_on_repeated_sigterm``).
SIG_IGN is never replaced. A handler the application (a server: uvicorn,
gunicorn's workers, billiard's pool workers) installed keeps its policy, but gets
ours chained in front of it (``_SigtermChain``): some servers (uvicorn) shut down
gracefully, restore the default disposition and re-raise SIGTERM, which would end
the process without any exit hook; the chain holds that re-raise until exit
delivery has run (see ``reraise``). The handlers themselves take no lock: a signal
can arrive while the main thread holds one of ours.

In a multiprocessing child, a SIGTERM whose handler cannot run, because the
main thread is held in a blocking C call (see ``signal_watch``), is seen by a
watcher thread: after SIGTERM_GRACE it delivers within the exit deadlines and
ends the process with status 143, as the handler's exit would have.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from ..process import on_fork_child
from . import reraise, signal_watch
from .reentry import calls_the_application
from .exit_delivery import (deliver_pending_now, exit_delivery_started, longest_exit_timeout, main_thread_delivering,
                            multiprocessing_exit_underway, when_multiprocessing_child_starts)

__all__ = ["install_sigterm_handler", "SIGTERM_GRACE"]

log = logging.getLogger("analytics_sdk")


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

    @calls_the_application
    def __call__(self, signum: int, frame: Any) -> Any:
        if main_thread_delivering():
            return None  # the main thread is delivering at exit: let it finish, as ours does
        if exit_delivery_started():
            return self.previous(signum, frame)  # delivered already (billiard's pool worker: ends at once)
        # reraise's watcher delivers (or waits for the main thread's delivery) if the
        # server re-raises and the main thread does not reach its exit.
        reraise.hold(signum, deliver_pending_now)
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


def _watch_in_multiprocessing_child() -> None:
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # also for a handler a fork inherited
        _watch_if_multiprocessing_child()


SIGTERM_GRACE = 1.0  # seconds the handler gets to run before the watcher acts for it
_sigterm_handled = False  # our handler ran (set in the handler: no lock there)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_handled
    _sigterm_handled = True
    # A second SIGTERM terminates at once, as it would have without us; except in a
    # multiprocessing child, where it is its parent's machinery, not an operator's.
    signal.signal(signum, _on_repeated_sigterm if _multiprocessing_child() else signal.SIG_DFL)
    _start_watchdog(signum)
    if exit_delivery_started():
        return  # the main thread is delivering at exit already: let it finish
    if multiprocessing_exit_underway(frame):
        return  # a multiprocessing child on its way to our exit finalizer: let it get there
    raise SystemExit(128 + signum)


def _start_watchdog(signum: int) -> None:
    """If the exit we raise is swallowed (``except BaseException``), terminate anyway,
    once the longest exit deadline (plus a margin) has passed."""
    threading.Thread(target=_terminate_later, args=(signum,), name="analytics_sdk-sigterm-watchdog", daemon=True).start()


def _terminate_later(signum: int) -> None:
    time.sleep(longest_exit_timeout() + 2.0)
    if signal.getsignal(signum) is _on_repeated_sigterm:
        os._exit(128 + signum)  # (only the main thread may restore the default)
    os.kill(os.getpid(), signum)  # the disposition is the default again: this ends the process


def _multiprocessing_child() -> bool:
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp.parent_process() is not None


def _on_repeated_sigterm(signum: int, frame: Any) -> None:
    """A multiprocessing child's SIGTERMs after the first: the exit they ask for is
    underway, bounded by the exit deadline (and the watchdog). Its parent sends them
    as part of its own shutdown, not to cut ours short: hypercorn's parent terminates
    every worker still running once one of them has exited, and multiprocessing's
    exit function terminates daemonic children again; after a SIGTERM to the whole
    process group, a worker gets three within a few milliseconds. Ending at the
    second would lose what that worker was delivering, unreported."""


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
    deliver_pending_now()  # (if the main thread is delivering at exit already, this waits for it)
    if not _sigterm_handled:
        os._exit(128 + signum)


def _reinit_after_fork() -> None:
    global _sigterm_handled
    _sigterm_handled = False  # the parent's SIGTERM is not the child's


on_fork_child(_reinit_after_fork)
when_multiprocessing_child_starts(_watch_in_multiprocessing_child)
