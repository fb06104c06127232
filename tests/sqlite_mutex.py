"""Holding one of SQLite's own mutexes on another thread at the moment of a fork, as
the garbage collector closing a connection (or an application thread opening one)
may: the child's copy of the mutex then stays locked for ever.

Plain module (no pytest), imported by the scripts of test_spool_after_fork.py
*before* analytics_sdk: ``os.register_at_fork`` runs "before" hooks in reverse
order of registration, so ours runs after the SDK's, which hold its spool locks.
Taken any earlier, a thread of the SDK could block inside SQLite on our mutex while
holding a spool lock that the SDK's hook waits for, and the fork would never happen.
Linux: the library is found in /proc/self/maps.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

__all__ = ["hold_sqlite_mutex_at_next_fork"]

SQLITE_MUTEX_STATIC_VFS1 = 11  # the one unix VFS calls take, e.g. when a connection closes


def _loaded_sqlite() -> Any:
    """The libsqlite3 this process's sqlite3 module is linked with (the same handle)."""
    import sqlite3  # noqa: F401 - loads the library

    with open("/proc/self/maps") as maps:
        paths = [line.split()[-1] for line in maps if "libsqlite3" in line]
    if not paths:
        raise RuntimeError("the sqlite3 module is not linked with a shared libsqlite3: cannot hold its mutex")
    lib = ctypes.CDLL(paths[0])
    lib.sqlite3_mutex_alloc.restype = ctypes.c_void_p
    lib.sqlite3_mutex_enter.argtypes = [ctypes.c_void_p]
    lib.sqlite3_mutex_leave.argtypes = [ctypes.c_void_p]
    return lib


class _Holder:
    def __init__(self) -> None:
        self.armed = False
        self.release = threading.Event()

    def before(self) -> None:
        if not self.armed:
            return
        self.armed = False
        lib = _loaded_sqlite()
        mutex = lib.sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS1)
        held = threading.Event()
        release = self.release  # (after_in_parent replaces self.release, maybe before hold() reads it)

        def hold() -> None:
            lib.sqlite3_mutex_enter(mutex)
            held.set()
            release.wait()
            lib.sqlite3_mutex_leave(mutex)

        threading.Thread(target=hold, daemon=True).start()
        if not held.wait(10):
            raise RuntimeError("the holding thread did not get SQLite's mutex")

    def after_in_parent(self) -> None:
        self.release.set()
        self.release = threading.Event()


_holder = _Holder()
os.register_at_fork(before=_holder.before, after_in_parent=_holder.after_in_parent)


def hold_sqlite_mutex_at_next_fork() -> None:
    """At the next os.fork() of this process, another thread holds SQLite's VFS mutex."""
    _holder.armed = True
