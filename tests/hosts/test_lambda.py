"""AWS Lambda's way of running a handler: the execution environment is frozen (SIGSTOP)
the moment the handler returns, and thawed (SIGCONT) for the next invocation, maybe
much later. Run here for real with the docs' example handler
(examples/lambda_handler.py), frozen and thawed by real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

from analytics_sdk.devserver import Collector, Faults

from .conftest import REPO, wait_until

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX job-control signals")

RUNTIME = """
    import json, os, signal, sys
    sys.path.insert(0, os.path.join(sys.argv[1], "examples"))
    from lambda_handler import handler  # the example, unchanged

    for line in sys.stdin:  # one invocation per line, as the runtime API hands them out
        result = handler(json.loads(line))
        print(json.dumps(result), flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # frozen right after returning, until the next invocation
"""


def _stopped(proc: subprocess.Popen) -> bool:
    with open(f"/proc/{proc.pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def _invoke(proc: subprocess.Popen, event: dict) -> dict:
    if _stopped(proc):
        proc.send_signal(signal.SIGCONT)  # the thaw
    proc.stdin.write(json.dumps(event) + "\n")
    proc.stdin.flush()
    result = json.loads(proc.stdout.readline())
    wait_until(lambda: _stopped(proc), 10, "the environment to freeze")
    return result


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process state from /proc")
@pytest.mark.parametrize("failing_invocation", [None, 2], ids=["healthy", "collector-down-once"])
def test_frozen_between_invocations_every_event_arrives_once(failing_invocation, tmp_path: Path) -> None:
    with Collector() as collector:
        env = dict(os.environ, ANALYTICS_HOST=collector.url, ANALYTICS_WRITE_KEY="lambda-key")
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(RUNTIME), str(REPO)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        results: List[dict] = []
        try:
            for n in range(5):
                # A collector refusing everything for one whole invocation (429, Retry-After: 1):
                # the handler's flush gives up at its 2 s, the event stays queued through the
                # freeze, and goes out after the thaw (retried, same messageId). Retry-After
                # pins the next try to at most 1 s after the freeze; a plain 500's jittered
                # backoff could put it up to 4 s later, past the next invocation's 2 s flush
                # (that made this test fail about one run in fifty).
                down = Faults(throttle_rate=1.0, retry_after="1")
                collector.faults = down if n == failing_invocation else Faults()
                results.append(_invoke(proc, {"user_id": f"u{n}", "amount": n}))
            collector.faults = Faults()
            proc.send_signal(signal.SIGCONT)
            proc.stdin.close()  # the runtime ends the environment: exit delivers what is left
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        expected = [n != failing_invocation for n in range(5)]
        assert [r["analytics_delivered"] for r in results] == expected
        summary = collector.summary()
        assert summary["stored"] == 5 and summary["duplicates"] == 0, summary
        assert sorted(e["userId"] for e in collector.events()) == [f"u{n}" for n in range(5)]
