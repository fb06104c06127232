"""hypercorn and daphne serving a plain ASGI app (docs/hosts/asgi-servers.md), ended by SIGTERM.

Both own SIGTERM, like uvicorn (issue 21, item 3), each its own way:

- hypercorn (``--workers N``, N >= 1, the default 1) runs the app in N children made
  by multiprocessing's *spawn*; the parent's SIGTERM handler sets a shared event,
  each child shuts down gracefully and returns to multiprocessing, which ends it
  with ``os._exit()``: no ``atexit`` hook runs there. ``--workers 0`` serves in the
  process itself, with asyncio's signal handlers (``loop.add_signal_handler``).
- daphne runs Twisted's reactor with its signal handlers: SIGTERM stops the
  reactor, and daphne's ``main()`` returns.

Each test makes sure events are still queued when the signal comes (nothing is
sent while serving, and the collector is slow), then asserts every accepted
event was delivered exactly once, or reported through ``on_error``, and that
the server ended within the deadline.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import List

import pytest

from analytics_sdk.devserver import Collector, Faults

from .conftest import SDK_SETUP, Server, SigtermOutcome, StartServer, collector_env, reported_errors

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# A plain ASGI app (no framework): GET /async/<i> tracks on the event loop's thread;
# GET /thread/<i> tracks in the loop's default executor, as a sync view would (the
# lazy client is then made off the main thread).
APP = SDK_SETUP + '''
import asyncio
import json

PAD = "x" * int(os.environ.get("PAD", "0"))  # large events: exit delivery takes several requests


def tracked(i):
    ok, _ = analytics_sdk.track(f"user-{i}", "Request Served", {"i": i, "pad": PAD})
    return ok


async def lifespan(receive, send):
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":  # hypercorn's; daphne has none
        return await lifespan(receive, send)
    _, where, i = scope["path"].split("/")
    if where == "thread":
        ok = await asyncio.get_running_loop().run_in_executor(None, tracked, int(i))
    else:
        ok = tracked(int(i))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"ok": ok}).encode()})
'''

HYPERCORN_READY = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")
DAPHNE_READY = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")
REQUESTS = 600
EXIT_TIMEOUT = 5.0  # the SDK's default
MARGIN = 3.0  # process start-up and shutdown around the exit deadline, on a loaded machine


def _hypercorn(worker_class: str, workers: int) -> List[str]:
    pytest.importorskip("hypercorn")
    if worker_class == "uvloop":
        pytest.importorskip("uvloop")
    # The parent binds port 0 and hands the socket to its workers; each logs the real port.
    return [sys.executable, "-m", "hypercorn", "app:app", "--bind", "127.0.0.1:0",
            "--worker-class", worker_class, "--workers", str(workers)]


def _daphne() -> List[str]:
    pytest.importorskip("daphne")
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "app:app"]


def _serve_and_terminate(start_server: StartServer, args: List[str], ready: "re.Pattern[str]", tmp_path: Path,
                         path: str, group: bool = False) -> None:
    """Serve REQUESTS tracked events with everything held in the queue, SIGTERM, and check
    each accepted event arrived exactly once within the deadline."""
    (tmp_path / "app.py").write_text(APP)
    # Every event is still queued at SIGTERM, whatever the machine's speed (HOLD_UPLOADS),
    # and delivering takes a while (0.3 s per request) while the server shuts down.
    with Collector(faults=Faults(latency=0.3)) as collector:
        server = start_server(args, tmp_path, collector_env(collector, tmp_path, HOLD_UPLOADS="1", PAD="1500"), ready)
        outcome = SigtermOutcome(server, collector, tmp_path, path, REQUESTS, group=group)
        print(f"{' '.join(args[2:])} {path} group={group}: {outcome}")
        outcome.assert_every_event_delivered_once()
        status, took = outcome.status, outcome.took
        if not group:  # (after a SIGTERM to each process, hypercorn's status depends on which worker it saw end first)
            _assert_ended_as_without_the_sdk(status, args, server)
        assert took < EXIT_TIMEOUT + MARGIN, took


def _assert_ended_as_without_the_sdk(status: int, args: List[str], server: Server) -> None:
    # hypercorn's parent exits with its workers' status, 0 after a graceful shutdown;
    # daphne returns from main(): 0. (Without the SDK, both end the same way.)
    assert status == 0, (status, args, "".join(server.lines))


@pytest.mark.parametrize(
    "worker_class, path, workers",
    [
        ("asyncio", "/async", 1),  # the default: one spawned worker
        ("asyncio", "/thread", 1),
        ("uvloop", "/async", 1),
        ("asyncio", "/async", 2),
        ("uvloop", "/thread", 2),
        ("asyncio", "/async", 0),  # served in the process itself, asyncio's signal handlers
        ("asyncio", "/thread", 0),
    ],
)
def test_hypercorn_sigterm_delivers_every_accepted_event(worker_class: str, path: str, workers: int, tmp_path: Path,
                                                          start_server: StartServer) -> None:
    # SIGTERM to the server process only, as a process manager (Kubernetes, docker stop) sends it.
    _serve_and_terminate(start_server, _hypercorn(worker_class, workers), HYPERCORN_READY, tmp_path, path)


def test_hypercorn_sigterm_to_every_process_delivers_every_accepted_event(tmp_path: Path, start_server: StartServer) -> None:
    # systemd's default (KillMode=control-group): the workers get SIGTERM too, not only the event.
    _serve_and_terminate(start_server, _hypercorn("asyncio", 2), HYPERCORN_READY, tmp_path, "/async", group=True)


@pytest.mark.parametrize("path", ["/async", "/thread"])
def test_daphne_sigterm_delivers_every_accepted_event(path: str, tmp_path: Path, start_server: StartServer) -> None:
    _serve_and_terminate(start_server, _daphne(), DAPHNE_READY, tmp_path, path)


@pytest.mark.parametrize("server_name, workers", [("hypercorn", 1), ("hypercorn", 2), ("daphne", None)])
def test_sigterm_with_a_dead_collector_reports_every_event_and_ends_within_the_deadline(
        server_name: str, workers: int, tmp_path: Path, start_server: StartServer) -> None:
    (tmp_path / "app.py").write_text(APP)
    args, ready = (_hypercorn("asyncio", workers), HYPERCORN_READY) if server_name == "hypercorn" else (_daphne(), DAPHNE_READY)
    with Collector(faults=Faults(stall=True)) as collector:
        server = start_server(args, tmp_path, collector_env(collector, tmp_path, EXIT_TIMEOUT="1"), ready)
        accepted = server.drive("/async", 300)
        status, took, _ = server.terminate()
        reported = reported_errors(tmp_path)
        print(f"{server_name} workers={workers}, dead collector: accepted {accepted}, reported {reported}, status {status}, "
              f"ended in {took:.2f}s")
        assert accepted == 300
        # Every one of them reported, none silently lost: what the stalled collector read
        # is in doubt (outcome_unknown), the rest never went out (shutdown_timeout).
        assert set(reported) <= {"shutdown_timeout", "outcome_unknown"} and sum(reported.values()) == accepted, reported
        _assert_ended_as_without_the_sdk(status, args, server)
        assert took < 1 + MARGIN, took
