"""The opt-in on-disk spool: crashes, outages, exits, fork, shared files, bad files."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from analytics_sdk import Client
from analytics_sdk.delivery.spool import Spool, SpoolError

DOWN = "http://127.0.0.1:9"  # nothing listens there: connection refused


def spool_rows(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]


def start_script(body: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(body), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# -- storage ----------------------------------------------------------------------------


def test_spool_is_a_bounded_fifo(tmp_path):
    spool = Spool(str(tmp_path / "s.db"), max_messages=5)
    assert spool.append([b"1", b"2", b"3"]) == 3
    assert spool.append([b"4", b"5", b"6"]) == 2  # only two fit
    claimed = spool.claim(2)
    assert [body for _, body in claimed] == [b"1", b"2"]
    assert [body for _, body in spool.claim(10)] == [b"3", b"4", b"5"]
    spool.release([rowid for rowid, _ in claimed])
    assert [body for _, body in spool.claim(10)] == [b"1", b"2"]
    spool.delete([rowid for rowid, _ in claimed])
    assert spool.count == 3 and spool_rows(tmp_path / "s.db") == 3


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 1000)
    with pytest.raises(SpoolError, match="cannot use spool file"):
        Spool(str(path))


# -- lifecycle, for real ----------------------------------------------------------------------

KILLED_WRITER = """
import sys, time, analytics_sdk
client = analytics_sdk.Client("k", host=sys.argv[1], spool_path=sys.argv[2], spool_sync=sys.argv[3] == "sync",
                              max_queue_size=20000)
for i in range(int(sys.argv[4])):
    client.track("u", "Crash Test", {"i": i}, message_id=f"crash-{i}")
if sys.argv[3] != "sync":
    while client.stats()["spool_depth"] < int(sys.argv[4]):   # the writer thread has them on disk
        time.sleep(0.01)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("mode, count", [("async", 10_000), ("sync", 1_000)])
def test_sigkill_loses_nothing_that_reached_the_spool(tmp_path, collector, mode, count):
    path = str(tmp_path / "spool.db")
    proc = start_script(KILLED_WRITER, DOWN, path, mode, str(count))
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close(), proc.stderr.close()  # (python -X dev: no pipe left to the garbage collector)
    assert spool_rows(path) == count
    client = Client("k", host=collector.url, spool_path=path)  # the next run
    assert client.flush(timeout=60)
    ids = Counter(e["messageId"] for e in collector.events())
    assert len(ids) == count and set(ids.values()) == {1}
    assert collector.summary()["duplicates"] == 0
    assert spool_rows(path) == 0
    client.shutdown(timeout=2)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads peak RSS from /proc")
def test_outage_longer_than_the_queue_loses_nothing_and_rss_stays_bounded(tmp_path):
    # Peak RSS from VmHWM, the process's own: ru_maxrss carries the parent's over from fork().
    script = """
    import sys, time, analytics_sdk

    def peak_rss_kb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))

    from analytics_sdk.devserver import Collector, Faults
    with Collector(faults=Faults(error_rate=1.0)) as collector:           # down: every request fails
        client = analytics_sdk.Client("k", host=collector.url, spool_path=sys.argv[1], max_queue_size=1000)
        pad = "x" * 1000
        client.track("u", "Warm Up")
        time.sleep(0.2)
        before = peak_rss_kb()
        for i in range(50_000):
            assert client.track("u", "Outage", {"i": i, "pad": pad})[0]
        while client.stats()["spool_depth"] < 50_001:
            time.sleep(0.05)
        grown_mb = (peak_rss_kb() - before) / 1024
        collector.faults.error_rate = 0.0                                  # back up
        delivered = client.flush(timeout=90)
        summary = collector.summary()
        print(grown_mb, delivered, summary["stored"], summary["duplicates"], client.stats()["dropped_total"])
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "spool.db")],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    grown_mb, delivered, stored, duplicates, dropped = result.stdout.split()
    assert delivered == "True" and int(stored) == 50_001 and int(duplicates) == 0 and int(dropped) == 0
    assert float(grown_mb) < 25  # 50,000 x 1 KB would be ~55 MB held in memory


GRACEFUL_EXIT = """
import sys, analytics_sdk
analytics_sdk.write_key = "k"
analytics_sdk.host = sys.argv[1]
analytics_sdk.spool_path = sys.argv[2]
analytics_sdk.flush_timeout = 1.0
analytics_sdk.on_error = lambda error, messages: print("reported", error.reason, len(messages))
for i in range(500):
    analytics_sdk.track("u", "Before Exit", {"i": i})
"""


def test_graceful_exit_with_the_collector_down_keeps_everything_for_the_next_run(tmp_path, collector):
    path = str(tmp_path / "spool.db")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", GRACEFUL_EXIT, DOWN, path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 1.0 + 4.0  # the deadline, plus interpreter start-up
    assert "reported" not in result.stdout  # nothing is lost, so nothing is reported as dropped
    assert spool_rows(path) == 500
    client = Client("k", host=collector.url, spool_path=path)
    assert client.flush(timeout=30)
    assert collector.summary()["stored"] == 500 and spool_rows(path) == 0
    client.shutdown(timeout=2)


def _dump_state(client: Client, path: Path) -> None:
    """(a fork child whose flush timed out) Its stats and every thread's stack, for the
    assertion message."""
    import faulthandler

    with open(path, "w") as out:
        out.write(f"stats: {client.stats()}\n")
        out.flush()
        faulthandler.dump_traceback(out, all_threads=True)


def test_fork_with_a_spool(tmp_path, collector):
    path = str(tmp_path / "spool.db")
    client = Client("k", host=collector.url, spool_path=path, upload_interval=5)
    parent_ids = [client.track("parent", "Before Fork", {"i": i})[1]["messageId"] for i in range(300)]
    # Seen twice in ~100 runs of the suite before the spool's open in a fork child was
    # bounded: the child's first sqlite3.connect() hung on a SQLite mutex another thread
    # of this pytest process held at the fork (test_spool_after_fork.py reproduces it).
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for i in range(200):
                client.track("child", "In Child", {"i": i})
            code = 0 if client.flush(timeout=20) else 3
            if code:
                _dump_state(client, tmp_path / "child-state.txt")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    state = tmp_path / "child-state.txt"
    assert os.waitstatus_to_exitcode(status) == 0, state.read_text() if state.exists() else "(no state written)"
    assert client.flush(timeout=20)
    counts = Counter(e["messageId"] for e in collector.events())
    assert all(counts[mid] == 1 for mid in parent_ids)
    assert collector.summary()["stored"] == 500 and collector.summary()["duplicates"] == 0
    client.shutdown(timeout=2)


SHARED_FILE = """
import sys, analytics_sdk
client = analytics_sdk.Client("k", host=sys.argv[1], spool_path=sys.argv[2])
for i in range(2000):
    client.track(sys.argv[3], "Shared", {"i": i})
print(client.flush(timeout=60), client.stats()["dropped_total"])
"""


def test_two_processes_on_one_spool_file(tmp_path, collector):
    path = str(tmp_path / "spool.db")
    procs = [start_script(SHARED_FILE, collector.url, path, f"proc-{n}") for n in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert out.split() == ["True", "0"]
    assert Counter(e["userId"] for e in collector.events()) == {"proc-0": 2000, "proc-1": 2000}
    assert collector.summary()["duplicates"] == 0
    assert spool_rows(path) == 0


def test_a_garbage_spool_file_falls_back_to_memory(tmp_path, collector, caplog):
    path = tmp_path / "truncated.db"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(3000))  # a truncated, corrupt file
    with caplog.at_level(logging.WARNING, logger="analytics_sdk"):
        client = Client("k", host=collector.url, spool_path=str(path))
    assert client.spool_error and "spool is disabled" in caplog.text
    assert client.track("u", "Still Works")[0]
    assert client.flush(timeout=5)
    assert [e["event"] for e in collector.events()] == ["Still Works"]
    client.shutdown(timeout=1)


def test_a_full_spool_refuses_and_counts(tmp_path):
    errors = []
    client = Client("k", host=DOWN, spool_path=str(tmp_path / "s.db"), spool_max_messages=10,
                    on_error=lambda e, m: errors.append(e.reason))
    results = [client.track("u", "E", {"i": i})[0] for i in range(15)]
    assert results.count(True) == 10 and results[10:] == [False] * 5
    assert client.stats()["dropped"]["spool_full"] == 5 and errors.count("spool_full") == 5
    client.shutdown(timeout=0.5)


def test_an_exception_in_the_wait_for_the_spool_leaves_it_usable_on_that_thread(tmp_path):
    # KeyboardInterrupt (or a signal handler's exception) raised while the main thread
    # waits for the spool must not leave the thread marked as inside it: every later
    # use there would be refused as "in use by the code this signal handler interrupted".
    import threading

    spool = Spool(str(tmp_path / "s.db"))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with spool._locked(None):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            spool.append([b"x"], 20)  # waits for the holder; the signal ends the wait
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        release.set()
        holder.join(10)
    assert not spool.in_use_here()
    assert spool.append([b"y"], 5) == 1
