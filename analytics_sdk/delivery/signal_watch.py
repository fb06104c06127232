"""A thread that sees each SIGTERM CPython takes, even when its Python handler cannot run.

CPython runs a Python signal handler on the main thread, between bytecodes. When a
SIGTERM lands just as the main thread enters a blocking C call (a lock or a
semaphore: a ``Pool`` worker waiting for its next task), the C-level handler only
sets a flag, the call never sees EINTR, and the Python handler waits for the call
to return, which may be never. The default disposition would have ended the
process; with the SDK's handler in place, ``Pool.terminate()`` would hang in
``join()``.

So the SDK also asks CPython to write each signal's number to a pipe
(``signal.set_wakeup_fd``, made for exactly this), and a daemon thread blocked on
the pipe reports every SIGTERM; what to do then is ``sigterm``'s policy. Only
when the wakeup fd is free: an event loop (asyncio) that set its own keeps it.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable, Optional

from ..process import on_fork_child
from .green import green_threads

__all__ = ["watch_sigterm", "watching"]

OnSignal = Callable[[int], None]

_pid: Optional[int] = None  # the process whose watcher runs
_read_fd = _write_fd = -1
_on_sigterm: Optional[OnSignal] = None


def watching() -> bool:
    """Whether this process has a watcher."""
    return _pid == os.getpid()


def watch_sigterm(on_sigterm: OnSignal) -> bool:
    """Call ``on_sigterm(signum)`` on the watcher's thread for every SIGTERM that reaches
    a Python-level handler. Main thread only; False when the wakeup fd is someone
    else's (or signals cannot be watched here)."""
    global _pid, _read_fd, _write_fd, _on_sigterm
    if watching():
        return _still_ours()
    if not hasattr(os, "set_blocking"):  # Windows (3.11): its wakeup fd must be a socket
        return False
    if green_threads():
        # gevent/eventlet: the "thread" would be a greenlet, and gevent leaves os.read
        # blocking: it would stop every greenlet. Nor is it needed: a greenlet waits in
        # the hub's loop, which runs signal handlers.
        return False
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block on it
    try:
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main thread or interpreter
        _close(read_fd, write_fd)
        return False
    if previous != -1:
        signal.set_wakeup_fd(previous)  # someone else's (asyncio's): theirs stays
        _close(read_fd, write_fd)
        return False
    thread = threading.Thread(target=_read_loop, args=(read_fd, on_sigterm), name="analytics_sdk-signal-watch", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # interpreter shutting down
        signal.set_wakeup_fd(-1)
        _close(read_fd, write_fd)
        return False
    _pid, _read_fd, _write_fd, _on_sigterm = os.getpid(), read_fd, write_fd, on_sigterm
    return True


def _still_ours() -> bool:
    """Point the wakeup fd at our pipe again if an after-fork hook that ran after ours
    cleared it: asyncio's (3.12+) sets it to -1 in every fork child, and hooks run in
    the order they were registered, so ours comes first when asyncio was imported
    after the SDK. Setting it returns the one it replaces: no window without a fd."""
    global _pid
    try:
        previous = signal.set_wakeup_fd(_write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main thread: nothing to check from here
        return True
    if previous in (-1, _write_fd):
        return True
    signal.set_wakeup_fd(previous)  # someone else's since: theirs stays, our thread idles
    _pid = None
    return False


def _read_loop(read_fd: int, on_sigterm: OnSignal) -> None:
    sigterm = int(signal.SIGTERM)
    while True:
        try:
            data = os.read(read_fd, 64)  # one byte per signal: its number
        except OSError:
            return
        if not data:
            return
        if sigterm in data:
            on_sigterm(sigterm)


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _after_fork_in_child() -> None:
    """The child inherits the wakeup fd, pointing at the parent's pipe, but not the
    thread: a SIGTERM here would wake the parent's watcher. Give the child its own."""
    global _pid
    if _pid is None or _on_sigterm is None:
        return
    inherited = (_read_fd, _write_fd)
    _pid = None
    try:
        current = signal.set_wakeup_fd(-1)  # the forking thread is the child's main thread
    except (ValueError, OSError):
        _close(*inherited)
        return
    _close(*inherited)
    if current != inherited[1]:
        signal.set_wakeup_fd(current)  # replaced by someone else meanwhile: theirs stays
        return
    watch_sigterm(_on_sigterm)


on_fork_child(_after_fork_in_child)
