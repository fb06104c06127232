"""The silent cases speak: an unusable spool_path and a flush() waiting on a failing
destination each give one warning, on stderr too when the application configured
no logging (the SDK's NullHandler would otherwise swallow it)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from typing import Iterator

import pytest

from analytics_sdk import Client
from analytics_sdk.delivery.retry import RetryPolicy

FLUSH_WARNING = "flush() is waiting for"


def fast_retries(client: Client) -> None:
    """Short backoffs, so several attempts fit in a short flush."""
    for route in client._routes:
        route.consumer.retry_policy = RetryPolicy(max_retries=1000, backoff_base=0.05, backoff_max=0.1, max_elapsed=60)


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_an_unusable_spool_path_warns_once_on_stderr(tmp_path, collector):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    path = str(not_a_folder / "spool.db")  # its parent is a file: no process can create it
    result = run_script(f"""
        from analytics_sdk import Client
        client = Client("k", host={collector.url!r}, spool_path={path!r})
        client.track("u1", "Still Delivered")
        print(client.flush(timeout=10))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert path in lines[0] and "kept in memory" in lines[0]
    assert [e["event"] for e in collector.events()] == ["Still Delivered"]


def test_a_usable_spool_path_says_nothing(tmp_path, collector):
    result = run_script(f"""
        from analytics_sdk import Client
        client = Client("k", host={collector.url!r}, spool_path={str(tmp_path / 's.db')!r})
        client.track("u1", "Spooled")
        print(client.flush(timeout=10))
    """)
    assert (result.returncode, result.stdout.split(), result.stderr) == (0, ["True"], "")


def flush_warnings(caplog) -> list:
    return [r for r in caplog.records if FLUSH_WARNING in r.getMessage()]


@pytest.fixture
def failing_client(faulty_collector) -> Iterator[Client]:
    """A client whose every request gets a 500, retried every 0.05-0.1 s."""
    client = Client("k", host=faulty_collector(error_rate=1.0).url)
    fast_retries(client)
    yield client
    client.shutdown(timeout=0.5)


def test_a_flush_on_a_failing_destination_warns_once(failing_client, caplog):
    client = failing_client
    with caplog.at_level(logging.WARNING, logger="analytics_sdk"):
        client.track("u1", "Never Accepted")
        assert client.flush(timeout=1.5) is False
        assert client.stats()["retried_requests"] >= 3  # several attempts, one warning
        assert len(flush_warnings(caplog)) == 1
        warning = flush_warnings(caplog)[0]
        assert warning.levelno == logging.WARNING and "Segment" in warning.getMessage()
        assert client.flush(timeout=1.0) is False  # a new wait gets its own warning
        assert len(flush_warnings(caplog)) == 2


def test_retries_with_no_flush_waiting_stay_quiet(failing_client, caplog):
    client = failing_client
    with caplog.at_level(logging.WARNING, logger="analytics_sdk"):
        client.track("u1", "Retried In The Background")
        deadline = time.monotonic() + 10
        while client.stats()["retried_requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.stats()["retried_requests"] >= 3
        assert flush_warnings(caplog) == []


def test_a_healthy_flush_says_nothing(collector, caplog):
    client = Client("k", host=collector.url)
    try:
        with caplog.at_level(logging.WARNING, logger="analytics_sdk"):
            client.track("u1", "Delivered")
            assert client.flush(timeout=10)
        assert flush_warnings(caplog) == []
    finally:
        client.shutdown(timeout=1)


def test_the_flush_warning_reaches_stderr_without_logging_setup(faulty_collector):
    failing = faulty_collector(error_rate=1.0)
    result = run_script(f"""
        from analytics_sdk import Client
        from analytics_sdk.delivery.retry import RetryPolicy
        client = Client("k", host={failing.url!r})
        for route in client._routes:
            route.consumer.retry_policy = RetryPolicy(backoff_base=0.05, backoff_max=0.1, max_retries=1000)
        client.track("u1", "Never Accepted")
        print(client.flush(timeout=2.0), client.stats()["retried_requests"] >= 3)
        client.shutdown(timeout=0.2)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
    warned = [line for line in result.stderr.splitlines() if FLUSH_WARNING in line]
    assert len(warned) == 1, result.stderr
    assert "max_total_backoff_duration" in warned[0] and "flush(timeout=...)" in warned[0]
