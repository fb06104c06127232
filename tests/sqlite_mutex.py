"""Holding one of SQLite's own mutexes from another thread, as the garbage collector
closing a connection does, to reproduce a fork made while SQLite was busy.

Plain module (no pytest): the gevent/eventlet scripts in test_spool_after_fork.py
import it too. Linux: the library is found in /proc/self/maps.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from typing import Iterator

SQLITE_MUTEX_STATIC_VFS1 = 11  # the one unix VFS calls take, e.g. when a connection closes


def _loaded_sqlite() -> ctypes.CDLL:
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


@contextmanager
def sqlite_mutex_held_by_another_thread() -> Iterator[None]:
    """While inside, another thread holds SQLite's VFS mutex: fork now, and the child's
    copy of it stays locked for ever."""
    lib = _loaded_sqlite()
    mutex = lib.sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        lib.sqlite3_mutex_enter(mutex)
        held.set()
        release.wait()
        lib.sqlite3_mutex_leave(mutex)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    if not held.wait(10):
        raise RuntimeError("the holding thread did not get SQLite's mutex")
    try:
        yield
    finally:
        release.set()
        holder.join(10)
