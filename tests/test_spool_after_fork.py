"""A fork child whose spool cannot be opened: SQLite is not fork-safe.

A SQLite mutex that another thread of the parent held at the moment of the fork
(the garbage collector closing a connection, the application's own queries) is
never released in the child, and the child's first ``sqlite3.connect()`` waits
for it for ever. These tests hold a real SQLite mutex, in the very library the
``sqlite3`` module uses, across a real ``os.fork()``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from analytics_sdk import Client
from analytics_sdk.delivery import spool as spool_module
from analytics_sdk.delivery.spool import Spool, SpoolError

from .sqlite_mutex import sqlite_mutex_held_by_another_thread
from .waiting import wait_child, wait_until

REPO = Path(__file__).resolve().parents[1]


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


# gunicorn --preload -k gevent, in short: the master (not patched) made the client and
# forked while SQLite's mutex was held; the worker patches, then tracks. A greenlet
# ticks every 10 ms meanwhile: the spool's open must not stop the hub.
GREEN_CHILD = """
import json, logging, os, sys, time
import analytics_sdk
from analytics_sdk.delivery import spool as spool_module
from tests.sqlite_mutex import sqlite_mutex_held_by_another_thread

kind, url, path = sys.argv[1:4]
logging.basicConfig(level=logging.ERROR)
spool_module.REOPEN_LIMIT = 1.0
client = analytics_sdk.Client("k", host=url, spool_path=path, upload_interval=0.2)
for i in range(50):
    client.track("parent", "Before Fork", {"i": i})
assert client.flush(timeout=30)
with sqlite_mutex_held_by_another_thread():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if kind == "gevent":
                from gevent import monkey
                monkey.patch_all()
                import gevent
                spawn = gevent.spawn
            else:
                import eventlet
                eventlet.monkey_patch()
                spawn = eventlet.spawn
            lags = []

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
            stats = client.stats()
            print(json.dumps({"accepted": accepted, "flushed": flushed, "ticks": len(lags),
                              "max_lag": max(lags, default=None), "dropped": stats["dropped_total"]}), flush=True)
            code = 0
        finally:
            os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("kind", ["gevent", "eventlet"])
def test_a_green_fork_child_keeps_running_while_its_spool_cannot_open(tmp_path, collector, kind):
    pytest.importorskip(kind)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(GREEN_CHILD), kind, collector.url, str(tmp_path / "spool.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:  # the old code: the child's hub stopped in sqlite3.connect()
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the {kind} fork child hung: {err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["accepted"] == 200 and report["flushed"] and report["dropped"] == 0, report
    assert report["ticks"] > 0 and report["max_lag"] < 0.5, report  # blocked: the whole REOPEN_LIMIT or for ever
    counts = Counter(e["messageId"] for e in collector.events() if e["userId"] == "child")
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert "has not opened the spool file" in err
