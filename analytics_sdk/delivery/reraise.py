"""Hold a SIGTERM that a server re-raises on the main thread until exit delivery has run.

Servers that own SIGTERM (uvicorn, and others built the same way) shut down
gracefully when it comes, then restore the disposition they found, the default
when they started before the SDK, and re-raise the signal with
``signal.raise_signal()`` so that the process ends "as SIGTERM would". With the
default disposition that ends it on the spot: no exit hook runs, and everything
still queued is lost without a report.

``raise_signal()`` sends the signal to the calling thread only. So when SIGTERM
reaches a server's handler (``sigterm`` chains in front of it), the main thread
blocks SIGTERM: the re-raise then waits, pending, while the process goes on to
its normal exit, where the exit delivery runs and ``release()`` unblocks it (the
process then ends by SIGTERM, as the server meant). A process-directed SIGTERM
still reaches the process through its other threads, so a second SIGTERM (or a
supervisor's) keeps working. On Linux a watcher thread also sees the re-raise
pending (``/proc/self/task/<tid>/status``) and, should the main thread not reach
the exit (code after the server's ``run()``, a thread it joins), delivers for it
and ends the process itself.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
from typing import Callable, Optional

from ..process import on_fork_child

__all__ = ["hold", "release", "cancel", "holding"]

POLL_INTERVAL = 0.05  # seconds between two looks at the main thread's pending signals (the exit path does not wait for it)

_held_pid: Optional[int] = None  # the process whose main thread blocks SIGTERM (for us)


def holding() -> bool:
    return _held_pid == os.getpid()


def hold(signum: int, deliver: Callable[[], None]) -> bool:
    """(the main thread, from a signal handler) Block ``signum`` on the main thread until
    ``release()``; on Linux, watch for a re-raise and then ``deliver()`` and end the
    process with ``signum``. Returns whether the signal is held."""
    global _held_pid
    if holding():
        return True
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return False
    status = f"/proc/self/task/{threading.main_thread().native_id}/status"
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    except (OSError, ValueError):
        return False
    _held_pid = os.getpid()
    if os.path.exists(status):
        # _thread, not threading: Thread.start() takes threading's registry lock, which
        # the main thread, interrupted by this handler, may be holding.
        try:
            _thread.start_new_thread(_watch, (signum, status, deliver))
        except RuntimeError:  # interpreter shutting down: the main thread's exit path remains
            pass
    return True


def cancel() -> None:
    """(the main thread) Stop holding: the handler did not defer the exit after all."""
    global _held_pid
    if not holding() or threading.current_thread() is not threading.main_thread():
        return
    _held_pid = None  # (the watcher sees it and ends)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def release() -> None:
    """(the main thread, once exit delivery has run) Unblock SIGTERM. A re-raise held
    meanwhile then ends the process, as the server meant; one held for a handler
    that is not the default stays pending (the process is exiting anyway)."""
    global _held_pid
    if not holding() or threading.current_thread() is not threading.main_thread():
        return
    if signal.SIGTERM in signal.sigpending() and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    _held_pid = None
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _watch(signum: int, status: str, deliver: Callable[[], None]) -> None:
    # A thread starts with its creator's mask: this one must stay able to take (and
    # die of) a process-directed SIGTERM.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    bit = 1 << (signum - 1)
    while not _pending(status) & bit:
        if not holding():
            return  # released (the main thread delivered), or a fork child's copy
        time.sleep(POLL_INTERVAL)
    deliver()  # waits for the main thread's own exit delivery, if that began first
    os.kill(os.getpid(), signum)  # the end the re-raise meant (the watcher takes it)


def _pending(status: str) -> int:
    """The main thread's own pending signals (a mask): SigPnd, not the process's ShdPnd."""
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("SigPnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _after_fork_in_child() -> None:
    """A fork child inherits the forking thread's mask: its SIGTERM is its own."""
    global _held_pid
    if _held_pid is None:
        return
    _held_pid = None
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    except (OSError, ValueError):
        pass


on_fork_child(_after_fork_in_child)  # (forks made in C too: see process.py)
