"""Delivery you can trust: faults, splits, deadlines, exit, fork — all for real.

A real collector on 127.0.0.1 with fault injection, real uploader threads, real
``os.fork()``, ``multiprocessing`` and subprocesses. Assertions are by messageId:
nothing lost, nothing duplicated, every drop reported exactly once.
"""

from __future__ import annotations

import logging
import re
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from typing import Any, Dict, List, Tuple


from analytics_sdk import Client
from analytics_sdk.devserver import Collector

from .waiting import wait_child


class ErrorLog:
    """An on_error hook that records (reason, status, attempts, messageIds)."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Any, int, List[str]]] = []
        self._lock = threading.Lock()

    def __call__(self, error: Exception, messages: List[Dict[str, Any]]) -> None:
        with self._lock:
            self.calls.append((error.reason, error.status, error.attempts, [m["messageId"] for m in messages]))

    @property
    def message_ids(self) -> List[str]:
        return [mid for call in self.calls for mid in call[3]]


def stored_ids(collector: Collector) -> Counter:
    return Counter(e["messageId"] for e in collector.events())


def test_20000_events_through_500s_429s_and_dropped_connections(faulty_collector):
    server = faulty_collector(error_rate=0.20, throttle_rate=0.05, retry_after="1", drop_rate=0.05, seed=7)
    errors = ErrorLog()
    client = Client("k", host=server.url, on_error=errors, thread=4, upload_size=250, max_queue_size=30000)
    sent = [client.track(f"user-{i % 50}", "Bulk Event", {"i": i})[1]["messageId"] for i in range(20000)]
    assert client.flush(timeout=120)
    summary = server.summary()
    assert summary["stored"] == 20000 and summary["duplicates"] == 0
    assert set(stored_ids(server)) == set(sent)
    assert errors.calls == []
    statuses = Counter(r.status for r in server.requests)
    assert statuses[500] > 0 and statuses[429] > 0 and statuses[None] > 0  # the faults really happened
    stats = client.stats()
    assert stats["delivered"] == 20000 and stats["dropped_total"] == 0
    assert stats["retried_requests"] == statuses[500] + statuses[429] + statuses[None]
    client.shutdown(timeout=5)


def test_poison_messages_are_isolated_by_splitting(faulty_collector):
    server = faulty_collector(poison="POISON-PILL")
    errors = ErrorLog()
    client = Client("k", host=server.url, on_error=errors, upload_size=100)
    poisoned = set()
    for i in range(1000):
        marker = "POISON-PILL" if i in (5, 500, 999) else "fine"
        _, msg = client.track("u", "E", {"i": i, "marker": marker})
        if marker != "fine":
            poisoned.add(msg["messageId"])
    assert client.flush(timeout=30)
    assert server.summary()["stored"] == 997
    assert sorted(errors.message_ids) == sorted(poisoned)  # exactly those 3, each once
    assert {(reason, status) for reason, status, _, _ in errors.calls} == {("invalid", 400)}
    assert client.stats()["dropped"] == {"invalid": 3}
    client.shutdown(timeout=5)


def test_413_above_50kb_still_delivers_everything(faulty_collector):
    server = faulty_collector(max_body_bytes=50_000)
    errors = ErrorLog()
    client = Client("k", host=server.url, on_error=errors, upload_size=100)
    sent = [client.track("u", "E", {"i": i, "pad": "p" * 2000})[1]["messageId"] for i in range(300)]
    assert client.flush(timeout=30)
    assert set(stored_ids(server)) == set(sent)
    assert errors.calls == []
    assert any(r.status == 413 for r in server.requests)
    client.shutdown(timeout=5)


def test_401_is_reported_once_per_message_and_not_retried():
    with Collector(write_key="right-key") as server:
        errors = ErrorLog()
        client = Client("wrong-key", host=server.url, on_error=errors, upload_size=10, backlog_upload_size=10)
        sent = [client.track("u", "E", {"i": i})[1]["messageId"] for i in range(25)]
        started = time.monotonic()
        assert client.flush(timeout=30)
        elapsed = time.monotonic() - started
        assert sorted(errors.message_ids) == sorted(sent)
        assert {(reason, status, attempts) for reason, status, attempts, _ in errors.calls} == {("unauthorized", 401, 1)}
        assert len(server.requests) == 3  # one request per batch: no retries
        assert elapsed < 5  # no backoff either (~0.1 s)
        assert server.summary()["stored"] == 0
        client.shutdown(timeout=1)


def test_server_that_never_answers_flush_and_shutdown_are_bounded(faulty_collector):
    server = faulty_collector(stall=True)
    errors = ErrorLog()
    client = Client("k", host=server.url, on_error=errors)
    ids = [client.track("u", "E", {"i": i})[1]["messageId"] for i in range(10)]
    started = time.monotonic()
    assert client.flush(timeout=1) is False
    assert time.monotonic() - started < 4  # 1 s; not the request's own timeout (15 s), nor for ever
    started = time.monotonic()
    assert client.shutdown(timeout=1) is False
    assert time.monotonic() - started < 4
    # nothing vanished silently: all 10 are reported once each, as outcome_unknown (the
    # stalling server read the whole request: it may have stored them)
    assert sorted(errors.message_ids) == sorted(ids)
    assert client.stats()["dropped"] == {"outcome_unknown": 10}


def test_on_error_that_raises_does_not_stop_delivery(faulty_collector, caplog):
    server = faulty_collector(poison="BAD")
    calls = []

    def explode(error, messages):
        calls.append(error.reason)
        raise RuntimeError("user bug")

    client = Client("k", host=server.url, on_error=explode, upload_size=1)
    client.track("u", "E", {"m": "BAD"})
    assert client.flush(timeout=5)
    client.track("u", "after", {"m": "ok"})
    assert client.flush(timeout=5)
    assert calls == ["invalid"]
    assert [e["event"] for e in server.events()] == ["after"]
    assert "on_error callback raised" in caplog.text
    client.shutdown(timeout=2)


def test_flush_inside_on_error_does_not_deadlock(faulty_collector):
    server = faulty_collector(poison="BAD")
    results = []
    holder: Dict[str, Client] = {}

    def on_error(error, messages):
        results.append(holder["client"].flush(timeout=20))

    client = holder["client"] = Client("k", host=server.url, on_error=on_error, upload_size=1)
    client.track("u", "E", {"m": "BAD"})
    started = time.monotonic()
    assert client.flush(timeout=30)
    assert time.monotonic() - started < 10 and len(results) == 1  # the inner flush returned at once, not at 20 s
    client.shutdown(timeout=2)


def test_blocking_put_loses_nothing_when_the_queue_is_full(faulty_collector):
    server = faulty_collector(latency=0.02)
    errors = ErrorLog()
    client = Client("k", host=server.url, on_error=errors, max_queue_size=20, upload_size=10, queue_full_timeout=30)
    results = [client.track("u", "E", {"i": i})[0] for i in range(500)]
    assert all(results)
    assert client.flush(timeout=30)
    assert server.summary()["stored"] == 500 and errors.calls == []
    client.shutdown(timeout=2)


def test_sync_mode_retries_with_the_same_policy(faulty_collector):
    server = faulty_collector(error_rate=0.3, seed=3)
    client = Client("k", host=server.url, sync_mode=True)
    results = [client.track("u", "E", {"i": i}) for i in range(12)]
    assert all(ok for ok, _ in results)
    assert server.summary()["stored"] == 12
    assert client.stats()["retried_requests"] > 0


def test_logs_never_contain_the_write_key_and_warn_once_per_burst(collector, caplog):
    secret = "SECRET-WRITE-KEY-123"
    caplog.set_level(logging.DEBUG, logger="analytics_sdk")
    gate = threading.Event()
    client = Client(secret, host="http://127.0.0.1:9", max_queue_size=5, upload_size=1, max_retries=1)
    for i in range(100):
        client.track("u", "E", {"private": "PII-VALUE"})
    client.flush(timeout=5)
    gate.set()
    text = caplog.text
    assert secret not in text
    import base64

    assert base64.b64encode(f"{secret}:".encode()).decode() not in text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all("PII-VALUE" not in r.getMessage() for r in warnings)
    queue_full_warnings = [r for r in warnings if "queue_full" in r.getMessage()]
    assert len(queue_full_warnings) == 1  # ~95 drops, one warning
    assert client.stats()["dropped"]["queue_full"] >= 90
    client.shutdown(timeout=1)


# -- process lifecycle -----------------------------------------------------------------

SCRIPT_PREAMBLE = """
import sys, analytics_sdk
analytics_sdk.write_key = "k"
analytics_sdk.host = sys.argv[1]
analytics_sdk.flush_timeout = float(sys.argv[2])
"""


def run_script(body: str, host: str, flush_timeout: float = 10.0, timeout: float = 60) -> subprocess.CompletedProcess:
    code = SCRIPT_PREAMBLE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code, host, str(flush_timeout)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_exit_without_flush_delivers_everything(collector):
    result = run_script(
        """
        for i in range(5000):
            analytics_sdk.track("u", "Exit Event", {"i": i})
        print(analytics_sdk.stats()["queue_depth"] > 0)
        """,
        collector.url,
    )
    assert result.returncode == 0, result.stderr
    summary = collector.summary()
    assert summary["stored"] == 5000 and summary["duplicates"] == 0


def test_exit_with_the_collector_down_is_bounded_by_the_deadline():
    started = time.monotonic()
    result = run_script(
        """
        # One write per report: print() writes its pieces separately, and two threads
        # reporting at once (uploader, exit) could interleave them past the count below.
        analytics_sdk.on_error = lambda e, m: __import__("os").write(1, f"dropped {e.reason} {len(m)}\\n".encode())
        for i in range(5000):
            analytics_sdk.track("u", "E", {"i": i})
        """,
        "http://127.0.0.1:9",
        flush_timeout=1.0,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 1.0 + 14.0  # the deadline plus interpreter start-up on a loaded machine (retries: 300 s)
    # Count every "dropped <reason> <n>" line.
    reported = sum(int(n) for n in re.findall(r"dropped \w+ (\d+)", result.stdout))
    assert reported == 5000  # every message accounted for, none silently lost


def _fork_child(work) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            code = 0 if work() else 3
        finally:
            os._exit(code)
    return pid


def test_fork_child_gets_its_own_queue_and_uploader(collector):
    client = Client("k", host=collector.url, upload_interval=5, upload_size=1000)  # parent's events wait in the queue
    parent_ids = [client.track("parent", "Before Fork", {"i": i})[1]["messageId"] for i in range(200)]
    assert client.stats()["queue_depth"] > 0

    def child() -> bool:
        ids = [client.track("child", "In Child", {"i": i})[1]["messageId"] for i in range(300)]
        return client.flush(timeout=10) and client.stats()["delivered"] == 300 and len(ids) == 300

    pid = _fork_child(child)
    assert wait_child(pid, 30) == 0
    assert client.flush(timeout=10)
    counts = stored_ids(collector)
    assert all(counts[mid] == 1 for mid in parent_ids)
    assert collector.summary() == {
        "stored": 500,
        "received": 500,
        "duplicates": 0,
        "by_type": {"track": 500},
    }
    client.shutdown(timeout=2)


def test_fork_while_the_lock_is_held_does_not_hang_the_child(collector):
    client = Client("k", host=collector.url)
    client.track("parent", "warm-up")
    holding, release = threading.Event(), threading.Event()

    def hold_lock():
        with client._consumer.lock:  # as an uploader does while taking a batch
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(30)
    try:
        pid = _fork_child(lambda: client.track("child", "E")[0] and client.flush(timeout=5))
    finally:
        release.set()
        holder.join()
    assert wait_child(pid, 20) == 0
    assert client.flush(timeout=5)
    assert sorted(e["userId"] for e in collector.events()) == ["child", "parent"]
    client.shutdown(timeout=2)


def _mp_worker(n: int) -> None:
    import analytics_sdk

    for i in range(100):
        analytics_sdk.track(f"worker-{n}", "MP Event", {"i": i})
    # no flush: the worker's exit must deliver


def test_multiprocessing_fork_workers_preload_style(module_settings, collector):
    import analytics_sdk

    # gunicorn --preload style: the default client exists (and has run) before forking
    analytics_sdk.track("parent", "Before Fork")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_mp_worker, args=(n,)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert analytics_sdk.flush(timeout=10)
    summary = collector.summary()
    assert summary["duplicates"] == 0
    assert Counter(e["userId"] for e in collector.events()) == {"parent": 1, "worker-0": 100, "worker-1": 100, "worker-2": 100}


def test_multiprocessing_pool_workers(module_settings, collector):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_mp_worker, range(4))
        pool.close()
        pool.join()
    assert collector.wait_for(400, timeout=10)
    assert collector.summary()["duplicates"] == 0
