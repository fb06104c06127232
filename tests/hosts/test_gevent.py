"""gevent and eventlet, with the SDK imported before the monkey-patch (issue 21, item 5).

``gunicorn -k gevent --preload`` imports the application, and the SDK, in the master;
each worker then runs ``gevent.monkey.patch_all()``. Whatever the SDK bound before
that keeps the blocking original: with ``select.poll`` bound at import, every greenlet
froze while the collector held a request (a /ping took ~3 s), and a client created
before the patch deadlocked the worker at its first ``track()``.

Each test makes the collector hold every request for ``LATENCY`` seconds, waits until
the SDK's batch is in flight (taken off the queue, not delivered), then measures the
application for ``WINDOW`` seconds: the longest request (gunicorn) and the longest
delay of a greenlet ticking every 10 ms. Blocked, both are about ``LATENCY``; free,
a few ms. The bounds sit far from both (LATENCY/6 and LATENCY/3 at the least), so a
busy machine does not flake them and the old code cannot pass them. The batch must
still be in flight at the end of the window (so the window measured a wait on the
collector), and every event is delivered once the collector answers (and, under
gunicorn, what is queued at SIGTERM by the worker's exit). Sync workers run the same
checks for comparison; with gevent after the import (no --preload) they always passed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from analytics_sdk.devserver import Collector, Faults

pytestmark = pytest.mark.skipif(os.name != "posix", reason="gunicorn and the signals used here are POSIX")

REPO = Path(__file__).resolve().parents[2]
LATENCY = 3.0  # seconds the collector holds each request
WINDOW = 1.5  # seconds measured while the batch waits on the collector (well inside LATENCY)
MAX_LAG = 0.5  # longest a 10 ms ticker greenlet may be held up (blocked: ~LATENCY)
MAX_REQUEST = 1.0  # longest an application request may take (blocked: ~LATENCY)
EVENTS = 100  # one batch (upload_size=100)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    env["PYTHONWARNINGS"] = "ignore"  # eventlet's deprecation, gevent's "ssl imported before patching"
    return env


def _require(package: str) -> None:
    """Skip when ``package`` is not installed, without importing it here: eventlet's
    import alone hooks fork() in this process (and warns in every later test that forks)."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")


# -- a plain script: import, then patch ------------------------------------------------------------

_SCRIPT = """
import json, sys, time
import analytics_sdk  # before the patch

url, library, create, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] or True
options = dict(upload_size={events}, upload_interval=0.05, timeout=30, verify=ca)
if create == "client_before_patch":
    client = analytics_sdk.Client("k", host=url, **options)
if library == "gevent":
    import gevent.monkey
    gevent.monkey.patch_all()
    from gevent import sleep, spawn
else:
    import eventlet
    eventlet.monkey_patch()
    from eventlet import sleep, spawn
if create == "module_api":  # the default client, created lazily by the first call: after the patch
    analytics_sdk.write_key = "k"
    analytics_sdk.host = url
    for name, value in options.items():
        setattr(analytics_sdk, name, value)
    client = analytics_sdk

lags, ticking = [0.0], [True]

def tick():
    last = time.monotonic()
    while ticking[0]:
        sleep(0.01)
        now = time.monotonic()
        lags.append(now - last - 0.01)
        last = now

ticker = spawn(tick)
sleep(0.05)
for i in range({events}):
    client.track("user", "Tick", {{"i": i}})
in_flight = False
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    stats = client.stats()
    if stats["delivered"]:
        break  # delivered already: the window below would measure nothing
    if stats["enqueued"] == {events} and stats["queue_depth"] == 0:
        in_flight = True  # taken off the queue, waiting for the collector's answer
        break
    sleep(0.01)
if in_flight:
    sleep({window})
still_in_flight = in_flight and client.stats()["delivered"] == 0
ticking[0] = False
{join}
print(json.dumps({{"max_lag": max(lags), "in_flight": in_flight, "still_in_flight": still_in_flight}}), flush=True)
print(json.dumps({{"flushed": client.flush(timeout=15), "delivered": client.stats()["delivered"]}}), flush=True)
"""


def _tls_collector(tmp_path: Path, faults: Faults) -> Tuple[Collector, str]:
    import ssl

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = Collector(faults=faults)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, str(ca_file)


def _run_script(tmp_path: Path, library: str, create: str, tls: bool) -> Tuple[Dict[str, Any], Dict[str, Any], int]:
    _require(library)
    faults = Faults(latency=LATENCY)
    collector, ca = _tls_collector(tmp_path, faults) if tls else (Collector(faults=faults), "")
    join = "ticker.join()" if library == "gevent" else "ticker.wait()"
    code = textwrap.dedent(_SCRIPT.format(events=EVENTS, window=WINDOW, join=join))
    with collector:
        url = collector.url.replace("http://", "https://") if tls else collector.url
        proc = subprocess.Popen(
            [sys.executable, "-c", code, url, library, create, ca],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path), start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=40)  # ~LATENCY when it works; the old code deadlocked here
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{library} script ({create}) hung: every greenlet stopped\n{out}\n{err[-2000:]}")
        assert proc.returncode == 0, err[-3000:]
        lines = out.strip().splitlines()
        measured, final = json.loads(lines[0]), json.loads(lines[1])
        print(f"{library} {create} tls={tls}: {measured} {final}")
        return measured, final, collector.summary()["stored"]


def _check_script(measured: Dict[str, Any], final: Dict[str, Any], stored: int) -> None:
    assert measured["max_lag"] < MAX_LAG, f"a greenlet was held up {measured['max_lag']:.3f} s while the collector stalled"
    assert measured["in_flight"] and measured["still_in_flight"], measured  # the window measured a wait on the collector
    assert final == {"flushed": True, "delivered": EVENTS}
    assert stored == EVENTS


@pytest.mark.parametrize(
    "create, tls",
    [("module_api", False), ("client_before_patch", False), ("client_before_patch", True)],
    ids=["default-client-after-patch", "client-before-patch", "client-before-patch-https"],
)
def test_gevent_imported_before_patch_all_keeps_greenlets_running(tmp_path, create, tls):
    _check_script(*_run_script(tmp_path, "gevent", create, tls))


@pytest.mark.parametrize(
    "create, tls",
    [("module_api", False), ("client_before_patch", False), ("client_before_patch", True)],
    ids=["default-client-after-patch", "client-before-patch", "client-before-patch-https"],
)
def test_eventlet_imported_before_monkey_patch_keeps_greenthreads_running(tmp_path, create, tls):
    _check_script(*_run_script(tmp_path, "eventlet", create, tls))


# -- gunicorn -k gevent, with and without --preload --------------------------------------------------

_APP = """
import json, os, threading, time
import analytics_sdk  # with --preload: imported in the master, before the worker's patch_all()

OPTIONS = dict(upload_size={events}, upload_interval=0.05, timeout=30, exit_timeout=10)
if os.environ["SDK_CREATE"] == "client_at_import":
    client = analytics_sdk.Client("k", host=os.environ["COLLECTOR_URL"], **OPTIONS)
else:  # the default client, created by the first call (in the worker, after the patch)
    analytics_sdk.write_key = "k"
    analytics_sdk.host = os.environ["COLLECTOR_URL"]
    for name, value in OPTIONS.items():
        setattr(analytics_sdk, name, value)
    client = analytics_sdk

lags = [0.0]
ticker = []


def tick():  # a thread; a greenlet once gevent patched threading and time (looked up here, at use)
    last = time.monotonic()
    while True:
        time.sleep(0.01)
        now = time.monotonic()
        lags.append(now - last - 0.01)
        last = now


def app(environ, start_response):
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    body = {{"ok": True}}
    if path == "/track":
        if not ticker:  # in the worker, after the patch
            ticker.append(threading.Thread(target=tick, daemon=True))
            ticker[0].start()
        for i in range(int(query.partition("=")[2] or 1)):
            client.track("user", "Request", {{"i": i}})
    elif path == "/stats":
        body = client.stats()
    elif path == "/lag":
        body = {{"max_lag": max(lags)}}
        lags[:] = [0.0]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
"""


class _Timed:
    """GETs to the app, each timed; a request that does not answer counts as its timeout."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.slowest = 0.0
        self.slowest_path = ""
        self.count = 0

    def get(self, path: str, timeout: float = 2 * LATENCY) -> Optional[Dict[str, Any]]:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
                body: Optional[Dict[str, Any]] = json.loads(response.read())
        except OSError:
            body = None
        took = time.monotonic() - started
        self.count += 1
        if took > self.slowest:
            self.slowest, self.slowest_path = took, path
        return body


def _own_control_socket() -> List[str]:
    """Recent gunicorn opens a control socket at one fixed path per user: none here, so
    concurrent test runs never meet there."""
    from gunicorn import config

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in config.KNOWN_SETTINGS) else []


def _wait_until_answering(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited early: {proc.communicate()[1][-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as response:
                response.read()
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gunicorn did not answer in time")


@pytest.mark.parametrize(
    "worker, preload, create",
    [
        ("gevent", True, "client_at_import"),
        ("gevent", True, "module_api"),
        ("gevent", False, "client_at_import"),
        ("sync", True, "client_at_import"),  # for comparison: the uploader is a real thread
    ],
    ids=["gevent-preload-client-at-import", "gevent-preload-default-client", "gevent-no-preload", "sync-preload"],
)
def test_gunicorn_worker_answers_while_the_collector_stalls(tmp_path, processes, worker, preload, create):
    if worker == "gevent":
        _require("gevent")
    _require("gunicorn")
    (tmp_path / "gevent_app.py").write_text(textwrap.dedent(_APP.format(events=EVENTS)))
    port = _free_port()
    with Collector(faults=Faults(latency=LATENCY)) as collector:
        env = _env(tmp_path)
        env.update(COLLECTOR_URL=collector.url, SDK_CREATE=create)
        command = [sys.executable, "-m", "gunicorn", "-k", worker, "-w", "1", "--bind", f"127.0.0.1:{port}",
                   "--graceful-timeout", "20", *_own_control_socket(), *(["--preload"] if preload else []), "gevent_app:app"]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=tmp_path, start_new_session=True)
        processes.append(proc)
        _wait_until_answering(port, proc)

        app = _Timed(port)
        assert app.get(f"/track?n={EVENTS}") is not None, "the worker never answered /track"
        in_flight = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = app.get("/stats")
            if stats is None or stats["delivered"]:
                break  # blocked or already delivered: the window below would measure nothing
            if stats["enqueued"] == EVENTS and stats["queue_depth"] == 0:
                in_flight = True  # the batch waits on the collector
                break
            time.sleep(0.02)
        window_end = time.monotonic() + WINDOW
        while in_flight and time.monotonic() < window_end:
            app.get("/ping")
            time.sleep(0.02)
        stats = app.get("/stats")
        lag = app.get("/lag")
        print(f"gunicorn -k {worker} preload={preload} {create}: slowest request {app.slowest:.3f} s ({app.slowest_path}) "
              f"of {app.count}, hub lag {lag}, in flight {in_flight}, after the window {stats}")
        assert app.slowest < MAX_REQUEST, f"{app.slowest_path} took {app.slowest:.3f} s while the collector stalled"
        assert lag is not None and lag["max_lag"] < MAX_LAG, lag
        assert in_flight and stats is not None and stats["delivered"] == 0  # the window measured a wait on the collector

        # The collector answers: the held batch is delivered; then it recovers, and what is
        # queued at SIGTERM is delivered by the worker's exit.
        assert collector.wait_for(EVENTS, timeout=LATENCY + 10)
        collector.faults.latency = 0.0
        assert app.get("/track?n=50") is not None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
        summary = collector.summary()
        assert summary["stored"] == EVENTS + 50 and summary["duplicates"] == 0, summary


DEFAULT_CLIENT_LOCK = """
    import sys
    import analytics_sdk  # before the patch, as gunicorn --preload imports the application
    from gevent import monkey
    monkey.patch_all()
    import gevent

    analytics_sdk.write_key, analytics_sdk.host = "k", sys.argv[1]
    analytics_sdk.track("user-1", "First")  # makes the default client
    order = []

    def hold(n):
        with analytics_sdk._client_lock:  # (what two greenlets' first calls would take at once)
            order.append(n)
            gevent.sleep(0.01)
            order.append(-n)

    gevent.joinall([gevent.spawn(hold, 1), gevent.spawn(hold, 2)])
    print(order, analytics_sdk.flush(10))
"""


@pytest.mark.skipif(importlib.util.find_spec("gevent") is None, reason="gevent is not installed")
def test_the_default_client_lock_made_before_patch_all_excludes_greenlets_after_it(tmp_path):
    # A lock of the thread kind made before the patch lets every greenlet in (they share
    # one thread): the default client must be made under one gevent replaces.
    with Collector() as collector:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(DEFAULT_CLIENT_LOCK), collector.url],
                                capture_output=True, text=True, timeout=60, env=_env(tmp_path))
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["[1,", "-1,", "2,", "-2]", "True"]
        assert collector.summary()["stored"] == 1
