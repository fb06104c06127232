"""A fork child whose spool cannot be opened: SQLite is not fork-safe.

A SQLite mutex that another thread of the parent held at the moment of the fork
(the garbage collector closing a connection, the application's own queries) is
never released in the child, and the child's first ``sqlite3.connect()`` waits
for it for ever. The fork tests hold a real SQLite mutex, in the very library the
``sqlite3`` module uses, across a real ``os.fork()``, in a fresh interpreter
(tests/sqlite_mutex.py says why the order of the fork hooks matters).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from analytics_sdk.delivery import spool as spool_module
from analytics_sdk.delivery.spool import Spool, SpoolBusy, SpoolError

from .waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
REOPEN_LIMIT_DEFAULT = spool_module.REOPEN_LIMIT


def run_script(body: str, *args: str, timeout: float = 90) -> Tuple[List[str], str]:
    """Run ``body`` in a fresh interpreter (the repository on its path): its stdout lines
    and its stderr.
    A script that hangs is killed, with its fork children, and fails the test."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(body), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # the old code: the fork child waited in sqlite3.connect() for ever
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the script or its fork child hung; its stderr: {err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    return out.splitlines(), err


BARE_SPOOL = """
import os, sys
from tests.sqlite_mutex import hold_sqlite_mutex_at_next_fork  # (first: see its docstring)
from analytics_sdk.delivery import spool as spool_module
from analytics_sdk.delivery.spool import Spool, SpoolBusy, SpoolError

spool_module.REOPEN_LIMIT = 0.5
spool = Spool(sys.argv[1])
hold_sqlite_mutex_at_next_fork()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        for _ in range(3):  # the first waits up to REOPEN_LIMIT, the later ones do not wait
            try:
                spool.append([b"x"])
                code = 3  # it cannot have opened: the mutex is held
                break
            except SpoolError as exc:
                print(exc, flush=True)
        else:
            code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
spool.append([b"parent"])  # the parent's spool is unaffected
print("parent rows:", [body for _, body in spool.claim(10)], flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_fork_childs_first_use_of_the_spool_is_bounded(tmp_path):
    lines, _ = run_script(BARE_SPOOL, str(tmp_path / "s.db"))
    assert len(lines) == 4, lines
    assert all("has not opened the spool file" in line for line in lines[:3]), lines
    assert lines[3] == "parent rows: [b'parent']"


def test_a_slow_open_is_used_once_it_completes(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "REOPEN_LIMIT", 0.0)
    spool = Spool(str(tmp_path / "s.db"))
    spool._after_fork_in_child()  # as in a fork child: its own connection, on first use
    gate = threading.Event()
    connect = spool._connect

    calls = []

    def slow_connect():
        calls.append(1)
        gate.wait(30)
        return connect()

    monkeypatch.setattr(spool, "_connect", slow_connect)
    with pytest.raises(SpoolError, match="has not opened"):
        spool.append([b"a"])
    opening = spool._opening
    assert opening is not None and wait_until(lambda: len(calls) == 1, 30)
    with pytest.raises(SpoolError, match="has not opened"):  # the same open, still running
        spool.unclaimed()
    assert spool._opening is opening and len(calls) == 1  # no second open
    gate.set()
    assert wait_until(lambda: opening.done, 30)
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


def _after_fork_with_a_slow_open(tmp_path: Path, monkeypatch: Any) -> Tuple[Spool, threading.Event, List[int]]:
    """A spool as in a fork child, whose open waits for the returned gate (calls counted)."""
    spool = Spool(str(tmp_path / "s.db"))
    spool._after_fork_in_child()
    gate, calls, connect = threading.Event(), [], spool._connect

    def slow_connect() -> Any:
        calls.append(1)
        gate.wait(60)
        return connect()

    monkeypatch.setattr(spool, "_connect", slow_connect)
    return spool, gate, calls


def test_a_callers_wait_bounds_the_first_use_after_fork(tmp_path, monkeypatch):
    spool, gate, _ = _after_fork_with_a_slow_open(tmp_path, monkeypatch)
    started = time.monotonic()
    with pytest.raises(SpoolBusy, match="still being opened"):  # a slow open, not (yet) a stuck one
        spool.append([b"a"], wait=0.2)
    assert time.monotonic() - started < REOPEN_LIMIT_DEFAULT / 2
    opening = spool._opening
    gate.set()
    assert opening is not None and wait_until(lambda: opening.done, 30)
    # The open is done, but another thread holds the spool for long: the caller's wait still bounds.
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with spool._lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        with pytest.raises(SpoolBusy):
            spool.append([b"b"], wait=0.2)
        assert time.monotonic() - started < REOPEN_LIMIT_DEFAULT / 2
    finally:
        release.set()
        holder.join(30)
    assert spool.append([b"c"], wait=0.2) == 1  # the finished open was taken over by a later use


def test_threads_that_use_the_spool_first_share_one_open(tmp_path, monkeypatch):
    spool, gate, calls = _after_fork_with_a_slow_open(tmp_path, monkeypatch)
    results: List[int] = []
    threads = [threading.Thread(target=lambda: results.append(spool.unclaimed())) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: len(calls) == 1, 30)
    gate.set()
    for thread in threads:
        thread.join(30)
    assert results == [0, 0, 0, 0] and len(calls) == 1


def test_a_fork_waits_for_our_own_open_to_leave_sqlite(tmp_path, monkeypatch):
    spool, gate, calls = _after_fork_with_a_slow_open(tmp_path, monkeypatch)
    with pytest.raises(SpoolBusy):
        spool.unclaimed(wait=0.0)  # starts the open
    opening = spool._opening
    assert opening is not None and wait_until(lambda: len(calls) == 1, 30)  # inside connect()
    opener_done = threading.Timer(0.2, gate.set)  # (the open ends a little later, on its own)
    opener_done.start()
    spool_module._before_fork()  # what os.fork() runs first
    try:
        assert opening.done  # the fork waited for it: a child never inherits our open mid-way
    finally:
        spool_module._after_fork_in_parent()
        opener_done.join(30)


def test_a_fork_does_not_wait_for_an_open_that_is_stuck(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "REOPEN_LIMIT", 0.2)
    spool, gate, calls = _after_fork_with_a_slow_open(tmp_path, monkeypatch)
    with pytest.raises(SpoolError, match="has not opened"):
        spool.unclaimed()
    opening = spool._opening
    assert opening is not None and not opening.done
    spool_module._before_fork()
    try:
        assert opening.guard not in spool_module._guards_held and not opening.done
    finally:
        spool_module._after_fork_in_parent()
        gate.set()


FORK_CHILD_BOUNDS = """
import json, os, sys, time
from tests.sqlite_mutex import hold_sqlite_mutex_at_next_fork  # (first: see its docstring)
import analytics_sdk
from analytics_sdk.delivery import spool as spool_module

spool_module.REOPEN_LIMIT = 30.0  # a stuck open is not given up in this test's time
client = analytics_sdk.Client("k", host=sys.argv[1], spool_path=sys.argv[2])
hold_sqlite_mutex_at_next_fork()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        took = {}
        for name, call in [("flush", lambda: client.flush(timeout=0.5)),
                           ("track+flush", lambda: client.track("u", "E") and client.flush(timeout=0.5)),
                           ("shutdown", lambda: client.shutdown(timeout=0.5))]:
            started = time.monotonic()
            call()
            took[name] = time.monotonic() - started
        print(json.dumps(took), flush=True)
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_flush_and_shutdown_timeouts_hold_while_a_fork_childs_spool_cannot_open(tmp_path, collector):
    lines, _ = run_script(FORK_CHILD_BOUNDS, collector.url, str(tmp_path / "spool.db"))
    took = json.loads(lines[-1])
    # Each was given 0.5 s; the open they would wait for gives up only after 30 s.
    assert max(took.values()) < 10, took


# The client, forked while SQLite's mutex is held. With gevent or eventlet this is
# gunicorn --preload -k gevent in short: the master (not patched) made the client
# and forked; the worker patches, then tracks. A greenlet ticks every 10 ms meanwhile:
# the spool's open must not stop the hub.
CLIENT = """
import json, logging, os, sys, time
from tests.sqlite_mutex import hold_sqlite_mutex_at_next_fork  # (first: see its docstring)
import analytics_sdk
from analytics_sdk.delivery import spool as spool_module

kind, url, path = sys.argv[1:4]
logging.basicConfig(level=logging.ERROR)
spool_module.REOPEN_LIMIT = 3.0
client = analytics_sdk.Client("k", host=url, spool_path=path, upload_interval=0.2)
for i in range(50):
    client.track("parent", "Before Fork", {"i": i})
assert client.flush(timeout=30)
hold_sqlite_mutex_at_next_fork()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        lags = []
        if kind != "threads":
            if kind == "gevent":
                from gevent import monkey
                monkey.patch_all()
                import gevent
                spawn = gevent.spawn
            else:
                import eventlet
                eventlet.monkey_patch()
                spawn = eventlet.spawn

            def tick():
                last = time.monotonic()
                while True:
                    time.sleep(0.01)
                    now = time.monotonic()
                    lags.append(now - last)
                    last = now

            spawn(tick)
        accepted = sum(client.track("child", "In Child", {"i": i})[0] for i in range(200))
        flushed = client.flush(timeout=30)
        print(json.dumps({"accepted": accepted, "flushed": flushed, "ticks": len(lags),
                          "max_lag": max(lags, default=0.0), "dropped": client.stats()["dropped_total"]}), flush=True)
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
client.track("parent", "After Fork")  # the parent's spool still works
assert client.flush(timeout=30)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("kind", ["threads", "gevent", "eventlet"])
def test_a_fork_child_sends_from_memory_when_sqlite_was_locked_at_the_fork(tmp_path, collector, kind):
    if kind != "threads":
        pytest.importorskip(kind)
    lines, err = run_script(CLIENT, kind, collector.url, str(tmp_path / "spool.db"))
    report: Dict[str, Any] = json.loads(lines[-1])
    assert report["accepted"] == 200 and report["flushed"] and report["dropped"] == 0, report
    if kind != "threads":  # blocked, a greenlet would wait the whole REOPEN_LIMIT (3 s), or for ever
        assert report["ticks"] > 0 and report["max_lag"] < 1.5, report
    events = collector.events()
    child = Counter(e["messageId"] for e in events if e["userId"] == "child")
    parent = Counter(e["messageId"] for e in events if e["userId"] == "parent")
    assert len(child) == 200 and set(child.values()) == {1}
    assert len(parent) == 51 and set(parent.values()) == {1}
    assert "SQLite has not opened the spool file" in err  # the one ERROR that says why
