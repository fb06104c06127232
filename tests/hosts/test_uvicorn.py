"""uvicorn (asyncio and uvloop) serving FastAPI, the docs' recipe (docs/hosts/uvicorn.md), ended by SIGTERM.

uvicorn owns SIGTERM: it installs its handler before the application's lazy client
exists, shuts down gracefully, restores the handler it found (the default) and
re-raises SIGTERM with ``signal.raise_signal()``, which ends the process without
any exit hook. Before the fix, whatever was still queued was neither delivered nor
reported (issue 21, item 3). Each test makes sure events are still queued when the
signal comes (nothing is sent while serving, and the collector is slow), then
asserts every accepted event was delivered, or reported through ``on_error``.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

from analytics_sdk.devserver import Collector, Faults

from .conftest import SDK_SETUP, SigtermOutcome, StartServer, collector_env, free_port, reported_errors

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# The docs' recipe: configure at import time of the app module, track in handlers.
APP = SDK_SETUP + '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/async/{i}")
async def tracked_async(i: int):
    ok, _ = analytics_sdk.track(f"user-{i}", "Request Served", {"i": i})
    return {"ok": ok}


@app.get("/sync/{i}")
def tracked_sync(i: int):  # runs in uvicorn's thread pool: the lazy client is made off the main thread
    ok, _ = analytics_sdk.track(f"user-{i}", "Request Served", {"i": i})
    return {"ok": ok}
'''

# uvicorn.run() from a script whose main thread goes on after the server returns:
# only a watcher can deliver before the held re-raise ends the process.
SCRIPT = '''
import os, sys, time
import uvicorn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from app import app

uvicorn.run(app, host="127.0.0.1", port=0, log_level="info", access_log=False)
time.sleep(60)  # never reached before: the re-raise ended the process right after run()
print("not ended", flush=True)
'''


UVICORN_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def _uvicorn(loop: str, workers: int = 1) -> List[str]:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    # One server binds port 0 itself (and logs the real one); the process manager logs
    # the port it was given, so it gets a free one (a short race, for that case only).
    port = 0 if workers == 1 else free_port()
    return [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
            "--loop", loop, "--no-access-log", "--workers", str(workers)]


REQUESTS = 900


@pytest.mark.parametrize(
    "loop, endpoint, workers",
    [
        ("asyncio", "async", 1),
        ("asyncio", "sync", 1),
        ("uvloop", "async", 1),
        ("uvloop", "sync", 1),
        # uvicorn's own process manager: the server runs in spawned children, each its own uvicorn.
        ("asyncio", "sync", 2),
    ],
)
def test_sigterm_delivers_every_accepted_event(loop: str, endpoint: str, workers: int, tmp_path: Path, start_server: StartServer) -> None:
    (tmp_path / "app.py").write_text(APP)
    # Every event is still queued at SIGTERM, whatever the machine's speed (HOLD_UPLOADS),
    # and delivering takes a while (0.3 s per request) while uvicorn's re-raise waits.
    with Collector(faults=Faults(latency=0.3)) as collector:
        server = start_server(_uvicorn(loop, workers), tmp_path, collector_env(collector, tmp_path, HOLD_UPLOADS="1"), UVICORN_READY)
        outcome = SigtermOutcome(server, collector, tmp_path, f"/{endpoint}", REQUESTS)
        print(f"{loop}/{endpoint}/workers={workers}: {outcome}")
        outcome.assert_every_event_delivered_once()
        # uvicorn's own ending, kept: the server re-raises SIGTERM; the process manager exits 0
        assert outcome.status == (-signal.SIGTERM if workers == 1 else 0), (outcome.status, "".join(server.lines))
        assert outcome.took < 5 + 3  # within exit_timeout (5 s), plus a margin


def test_sigterm_with_a_dead_collector_reports_every_event_and_ends_within_the_deadline(tmp_path: Path, start_server: StartServer) -> None:
    (tmp_path / "app.py").write_text(APP)
    with Collector(faults=Faults(stall=True)) as collector:
        server = start_server(_uvicorn("asyncio"), tmp_path, collector_env(collector, tmp_path, EXIT_TIMEOUT="1"), UVICORN_READY)
        accepted = server.drive("/async", 300)
        status, took, _ = server.terminate()
        reported = reported_errors(tmp_path)
        print(f"dead collector: accepted {accepted}, reported {reported}, ended in {took:.2f}s")
        assert status == -signal.SIGTERM, "".join(server.lines)
        # Every one of them reported, none silently lost: what the stalled collector read
        # is in doubt (outcome_unknown), the rest never went out (shutdown_timeout).
        assert set(reported) <= {"shutdown_timeout", "outcome_unknown"} and sum(reported.values()) == accepted
        assert took < 1 + 3


def test_a_script_that_goes_on_after_uvicorn_run_is_delivered_for_and_ended(tmp_path: Path, start_server: StartServer) -> None:
    # The main thread never reaches the exit path (it sleeps after uvicorn.run()), so the
    # held re-raise is seen by the SDK's watcher, which delivers and ends the process.
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "serve.py").write_text(textwrap.dedent(SCRIPT))
    with Collector(faults=Faults(latency=0.3)) as collector:
        server = start_server([sys.executable, "serve.py"], tmp_path, collector_env(collector, tmp_path, HOLD_UPLOADS="1"), UVICORN_READY)
        accepted = server.drive("/async", REQUESTS)
        assert collector.summary()["stored"] == 0  # all still queued
        status, took, out = server.terminate()
        collector.wait_for(accepted, timeout=2)
        summary = collector.summary()
        print(f"script: accepted {accepted}, stored {summary['stored']}, ended in {took:.2f}s")
        assert status == -signal.SIGTERM and "not ended" not in out, "".join(server.lines)
        assert summary["stored"] == accepted and summary["duplicates"] == 0, (summary, reported_errors(tmp_path))
        assert took < 5 + 3
