"""Every script in examples/ runs against the local collector, so none can rot."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections import Counter


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, collector, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANALYTICS_HOST=collector.url, ANALYTICS_WRITE_KEY="example-key")
    return subprocess.run(
        [sys.executable, *args, str(EXAMPLES / name)], capture_output=True, text=True, env=env, timeout=120
    )


def test_quickstart(collector):
    result = run_example("quickstart.py", collector)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout and "not delivered" not in result.stdout
    assert Counter(e["type"] for e in collector.events()) == {"identify": 1, "track": 1}


def test_cron_job(collector):
    result = run_example("cron_job.py", collector)
    assert result.returncode == 0, result.stderr
    assert "delivered=3 dropped=0" in result.stdout
    assert collector.summary()["stored"] == 3


def test_lambda_handler(collector):
    result = run_example("lambda_handler.py", collector)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("'analytics_delivered': True") == 3
    assert [e["properties"]["amount"] for e in collector.events()] == [10, 20, 30]


def test_prefork_workers(collector):
    result = run_example("prefork_workers.py", collector)
    assert result.returncode == 0, result.stderr
    users = Counter(e["userId"] for e in collector.events())
    assert users == {"master": 1, "worker-0": 10, "worker-1": 10, "worker-2": 10}
    assert collector.summary()["duplicates"] == 0


def test_backfill(collector):
    result = run_example("backfill.py", collector)
    assert result.returncode == 0, result.stderr
    assert collector.summary()["stored"] == 5000
    first = collector.events(limit=1)[0]
    assert first["messageId"] == "backfill-o-0" and first["timestamp"] == "2024-01-01T00:00:00+00:00"


def test_pytest_example(collector):
    result = run_example("test_with_capture.py", collector, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_examples_default_to_the_local_collector():
    """Run as they are, the examples send to `analytics-sdk serve`, never to a real backend."""
    local_default = 'os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088")'
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text()
        if "analytics_events" in text:  # the pytest example captures in memory: no network at all
            continue
        assert local_default in text, f"{path.name} does not default to the local collector"
        assert "ANALYTICS_HOST" in text.split('"""')[1], f"{path.name}'s docstring does not mention ANALYTICS_HOST"
