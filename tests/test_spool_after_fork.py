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
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from analytics_sdk.delivery import spool as spool_module
from analytics_sdk.delivery.spool import Spool, SpoolError

from .waiting import wait_until

REPO = Path(__file__).resolve().parents[1]


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
from analytics_sdk.delivery.spool import Spool, SpoolError

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
spool_module.REOPEN_LIMIT = 1.0
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
    if kind != "threads":  # blocked, a greenlet would wait the whole REOPEN_LIMIT, or for ever
        assert report["ticks"] > 0 and report["max_lag"] < 0.5, report
    events = collector.events()
    child = Counter(e["messageId"] for e in events if e["userId"] == "child")
    parent = Counter(e["messageId"] for e in events if e["userId"] == "parent")
    assert len(child) == 200 and set(child.values()) == {1}
    assert len(parent) == 51 and set(parent.values()) == {1}
    assert "SQLite has not opened the spool file" in err  # the one ERROR that says why
