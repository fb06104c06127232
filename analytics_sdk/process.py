"""Which process is this? Noticing a fork, however it happened.

Everything the SDK keeps per process (the messageId prefix, queues, locks,
uploader threads, connections, spool ownership, the SIGTERM watcher) must be
made anew in a fork child. ``os.register_at_fork`` hooks cover ``os.fork()``
(gunicorn, Celery, multiprocessing), but not a fork made in C behind Python's
back: uWSGI's prefork master (without ``--lazy-apps`` or
``--py-call-uwsgi-fork-hooks``) runs none of them, and its workers then shared
messageIds, and used locks and threads that exist only in the master.

So the hot paths also check :func:`forked` before touching per-process state:
one byte of a private page marked ``MADV_WIPEONFORK``, which the kernel zeroes
in every child, whatever made it. Reading it costs ~30 ns, where
``os.getpid()`` is a system call (~250 ns measured here); where the page cannot
be had (not Linux, kernels before 4.14), the pid is compared instead.

Hooks registered with :func:`on_fork_child` run once per child, in registration
order, on whichever comes first: the at-fork hook or the first check that sees
the wiped byte. Other threads of the child that check meanwhile wait for them.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
from typing import Callable, Dict, List, Optional

__all__ = ["forked", "check", "on_fork_child", "when_fork_child_ready", "fork_detection"]

log = logging.getLogger("analytics_sdk")

_MADV_WIPEONFORK = getattr(mmap, "MADV_WIPEONFORK", 18)  # Linux 4.14+ (mmap does not name it)


def _wipe_on_fork_page() -> Optional[mmap.mmap]:
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if not flags or not hasattr(mmap.mmap, "madvise") or not os.uname().sysname == "Linux":
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, flags=flags)
        page.madvise(_MADV_WIPEONFORK)
    except (OSError, ValueError):
        return None
    page[0] = 1
    return page


_page = _wipe_on_fork_page()
_pid = os.getpid()
_hooks: List[Callable[[], None]] = []
_ready_hooks: List[Callable[[], None]] = []  # after every reset: may start threads
_locks: Dict[int, threading.RLock] = {}  # per pid: a lock no thread of the parent can hold
_entering: Optional[int] = None  # the thread running the hooks (they may check() themselves)


def fork_detection() -> str:
    """How forks made behind Python's back are noticed: "wipe-on-fork page" or "pid"."""
    return "wipe-on-fork page" if _page is not None else "pid"


if _page is not None:
    _marker = _page

    def forked() -> bool:
        """Whether this process is a fork child whose hooks have not run yet."""
        return not _marker[0]

else:
    _getpid = os.getpid

    def forked() -> bool:
        """Whether this process is a fork child whose hooks have not run yet."""
        return _getpid() != _pid


def check() -> None:
    """Run the fork-child hooks if this process has not run them yet (cheap otherwise)."""
    if forked():
        _enter_child()


def on_fork_child(hook: Callable[[], None]) -> None:
    """Call ``hook()`` once in every fork child, before it uses the SDK's state."""
    _hooks.append(hook)


def when_fork_child_ready(hook: Callable[[], None]) -> None:
    """Call ``hook()`` in every fork child once all the resets ran (it may start threads)."""
    _ready_hooks.append(hook)


def around_os_fork(before: Callable[[], None], after_in_parent: Callable[[], None],
                   after_in_child: Optional[Callable[[], None]] = None) -> None:
    """Run ``before`` just ahead of ``os.fork()`` and ``after_in_parent`` (and
    ``after_in_child``) right after it: to hold a lock across the fork so no child
    inherits it mid-operation. A fork made in C takes no turn here; the fork-child
    hooks (``on_fork_child``) are what every child runs however it was made."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=before, after_in_parent=after_in_parent,
                            **({"after_in_child": after_in_child} if after_in_child else {}))


def _enter_child() -> None:
    global _pid, _locks, _entering
    pid = os.getpid()
    if _entering == threading.get_ident():
        return  # a hook's own check(): the hooks are running already, on this thread
    lock = _locks.setdefault(pid, threading.RLock())  # setdefault is atomic under the GIL
    with lock:
        if not forked():
            return  # another thread of this child ran them while we waited
        _entering = threading.get_ident()
        try:
            for hook in _hooks + _ready_hooks:
                try:
                    hook()
                except Exception:  # noqa: BLE001 - one broken hook must not break the others
                    log.exception("analytics_sdk: could not reset state after fork")
        finally:
            _entering = None
            _pid = pid
            if _page is not None:
                _page[0] = 1
            _locks = {pid: lock}  # the parent's (possibly held) locks are not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=check)
