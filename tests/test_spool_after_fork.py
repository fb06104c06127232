"""A fork child whose spool cannot be opened: SQLite is not fork-safe.

A SQLite mutex that another thread of the parent held at the moment of the fork
(the garbage collector closing a connection, the application's own queries) is
never released in the child, and the child's first ``sqlite3.connect()`` waits
for it for ever. These tests hold a real SQLite mutex, in the very library the
``sqlite3`` module uses, across a real ``os.fork()``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest

from analytics_sdk import Client
from analytics_sdk.delivery import spool as spool_module
from analytics_sdk.delivery.spool import Spool, SpoolError

from .forking import wait_child

SQLITE_MUTEX_STATIC_VFS1 = 11  # the one unix VFS calls take, e.g. when a connection closes


def _loaded_sqlite() -> ctypes.CDLL:
    """The libsqlite3 this process's sqlite3 module is linked with (the same handle)."""
    import sqlite3  # noqa: F401 - loads the library

    with open("/proc/self/maps") as maps:
        paths = [line.split()[-1] for line in maps if "libsqlite3" in line]
    if not paths:
        pytest.fail("the sqlite3 module is not linked with a shared libsqlite3: cannot hold its mutex")
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
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def fork_child(body: Callable[[], int], timeout: float = 60) -> int:
    """Run ``body()`` (returning an exit code) in a fork child made while SQLite's mutex
    is held; the child's exit code."""
    with sqlite_mutex_held_by_another_thread():
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = body()
            finally:
                os._exit(code)
    return wait_child(pid, timeout)


def test_a_fork_childs_first_use_of_the_spool_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "REOPEN_LIMIT", 0.5)
    spool = Spool(str(tmp_path / "s.db"))

    def child() -> int:
        for _ in range(3):  # the first waits up to REOPEN_LIMIT, later ones do not wait
            try:
                spool.append([b"x"])
            except SpoolError as exc:
                if "has not opened the spool file" not in str(exc):
                    return 4
            else:
                return 3  # it cannot have opened: the mutex is held
        return 0

    assert fork_child(child, timeout=20) == 0
    spool.append([b"parent"])  # the parent's spool is unaffected
    assert [body for _, body in spool.claim(10)] == [b"parent"]


def test_a_slow_open_is_used_once_it_completes(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "REOPEN_LIMIT", 0.0)
    spool = Spool(str(tmp_path / "s.db"))
    spool._after_fork_in_child()  # as in a fork child: its own connection, on first use
    gate = threading.Event()
    connect = spool._connect

    def slow_connect():
        gate.wait(30)
        return connect()

    monkeypatch.setattr(spool, "_connect", slow_connect)
    with pytest.raises(SpoolError, match="has not opened"):
        spool.append([b"a"])
    with pytest.raises(SpoolError, match="has not opened"):  # the same open, still running: no second thread
        spool.unclaimed()
    assert sum(t.name == "analytics_sdk-spool-open" for t in threading.enumerate()) == 1
    gate.set()
    opening = spool._opening
    assert opening is not None and opening.done.wait(30)
    assert spool.append([b"b"]) == 1
    assert [body for _, body in spool.claim(10)] == [b"b"]


def test_an_open_that_fails_is_tried_again(tmp_path, monkeypatch):
    spool = Spool(str(tmp_path / "s.db"))
    spool._after_fork_in_child()
    connect = spool._connect
    calls = []

    def failing_once():
        calls.append(1)
        if len(calls) == 1:
            raise SpoolError("cannot use spool file: disk I/O error")
        return connect()

    monkeypatch.setattr(spool, "_connect", failing_once)
    with pytest.raises(SpoolError, match="disk I/O error"):
        spool.append([b"a"])
    assert spool.append([b"b"]) == 1 and len(calls) == 2


def test_a_fork_child_sends_from_memory_when_sqlite_was_locked_at_the_fork(tmp_path, collector, monkeypatch):
    monkeypatch.setattr(spool_module, "REOPEN_LIMIT", 1.0)
    path = str(tmp_path / "spool.db")
    client = Client("k", host=collector.url, spool_path=path, upload_interval=0.2)
    parent_ids = [client.track("parent", "Before Fork", {"i": i})[1]["messageId"] for i in range(100)]
    assert client.flush(timeout=30)

    def child() -> int:
        accepted = sum(client.track("child", "In Child", {"i": i})[0] for i in range(200))
        if accepted != 200:
            return 3
        if not client.flush(timeout=30):  # the old code timed out here: its spool writer hung in sqlite3.connect()
            return 4
        return 0 if client.stats()["dropped_total"] == 0 else 5

    assert fork_child(child) == 0
    counts = Counter(e["messageId"] for e in collector.events())
    assert all(counts[mid] == 1 for mid in parent_ids)
    child_events = [e for e in collector.events() if e["userId"] == "child"]
    assert sorted(e["properties"]["i"] for e in child_events) == list(range(200))
    assert collector.summary()["duplicates"] == 0
    client.track("parent", "After Fork")  # the parent's spool still works
    assert client.flush(timeout=30)
    client.shutdown(timeout=2)
