"""Helpers for the tests that run a real host (server or worker) as a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Pattern, Tuple

import pytest

from analytics_sdk.devserver import Collector

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_tool(name: str) -> Optional[str]:
    """A console script installed beside this interpreter (the test venv's), or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    def answering() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited early with status {proc.returncode}")
        try:
            get(url, timeout=1)
            return True
        except OSError:
            return False

    wait_until(answering, timeout, f"{url} to answer")


def reported_errors(tmp_path: Path) -> Dict[str, int]:
    """Drops a host reported through its ``on_error``, by reason: the lines
    "<reason> <count>" its app writes to ``tmp_path/errors.txt``."""
    counts: Dict[str, int] = {}
    errors = tmp_path / "errors.txt"
    if errors.exists():
        for line in errors.read_text().splitlines():
            reason, n = line.split()
            counts[reason] = counts.get(reason, 0) + int(n)
    return counts


@pytest.fixture
def host_env(tmp_path: Path) -> Callable[..., Dict[str, str]]:
    """Environment for a host subprocess: the app folder and the repo on the path."""

    def make(**extra: str) -> Dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
        env.update(extra)
        return env

    return make


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen]]:
    """Subprocesses started by a test; killed (with their group) if still running after it."""
    started: List[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, 9)
            except OSError:
                proc.kill()
            proc.wait(10)


# The start of the ASGI test apps' module (see docs/hosts/uvicorn.md): the SDK configured
# at import time, its drops written to ERRORS_FILE (``reported_errors``).
SDK_SETUP = '''
import os
import analytics_sdk

analytics_sdk.write_key = "k"
analytics_sdk.host = os.environ["COLLECTOR_URL"]
if os.environ.get("HOLD_UPLOADS"):  # nothing is sent while serving (< 1,000 events, < 60 s): only the end delivers
    analytics_sdk.upload_size, analytics_sdk.upload_interval = 1000, 60
if os.environ.get("EXIT_TIMEOUT"):
    analytics_sdk.exit_timeout = float(os.environ["EXIT_TIMEOUT"])
    analytics_sdk.timeout = 30  # the exit deadline, not the request timeout, must end it


def report(error, messages):
    with open(os.environ["ERRORS_FILE"], "a") as f:
        f.write(f"{error.reason} {len(messages)}\\n")


analytics_sdk.on_error = report
'''


class Server:
    """A web server subprocess on 127.0.0.1; stderr is read on a thread until a line
    matches ``ready``, whose first group is the port it listens on (it may bind port 0)."""

    def __init__(self, args: List[str], cwd: Path, env: Dict[str, str], ready: Pattern[str]) -> None:
        # A session of its own: whatever happens in the test, the server and its
        # workers are ended (close()).
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines: List[str] = []
        self._ready_pattern = ready
        self._port: List[int] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(20) or not self._port:
            self.close()
            raise AssertionError(f"{args[:3]} did not start:\n" + "".join(self.lines))
        self.port = self._port[0]

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started, by its id
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(10)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            found = self._ready_pattern.search(line)
            if found and not self._port:
                self._port.append(int(found.group(1)))
                self._ready.set()
        self._ready.set()

    def drive(self, path: str, count: int) -> int:
        """``count`` requests on one keep-alive connection to ``path/<i>``, each answered
        with ``{"ok": <what track() returned>}``; returns how many events were accepted."""
        deadline = time.monotonic() + 20
        while True:  # a process manager's workers listen only once they have started
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.connect()
                break
            except ConnectionRefusedError:
                conn.close()
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)
        accepted = 0
        for i in range(count):
            conn.request("GET", f"{path}/{i}")
            response = conn.getresponse()
            accepted += json.loads(response.read())["ok"]
        conn.close()
        return accepted

    def terminate(self, timeout: float = 30, group: bool = False) -> Tuple[int, float, str]:
        """SIGTERM to the server process (``group``: to its whole process group, as
        systemd's default KillMode does); returns the exit status, how long the process
        took to end, and its stdout."""
        start = time.monotonic()
        if group:
            os.killpg(self.proc.pid, signal.SIGTERM)
        else:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.monotonic() - start, out


StartServer = Callable[[List[str], Path, Dict[str, str], Pattern[str]], Server]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts servers; ends each one (and its workers) after the test, whatever happened."""
    started: List[Server] = []

    def start(args: List[str], cwd: Path, env: Dict[str, str], ready: Pattern[str]) -> Server:
        started.append(Server(args, cwd, env, ready))
        return started[-1]

    yield start
    for server in started:
        server.close()


def collector_env(collector: Collector, tmp_path: Path, **extra: str) -> Dict[str, str]:
    """Environment for a server whose app (the hosts' test apps) sends to ``collector``
    and writes what it reports to ``tmp_path/errors.txt`` (``reported_errors``)."""
    return dict(os.environ, COLLECTOR_URL=collector.url, ERRORS_FILE=str(tmp_path / "errors.txt"), **extra)


class SigtermOutcome:
    """What ``sigterm_after_load`` measured: events accepted while serving, stored before
    and after SIGTERM, what the app reported, the server's status and how long it took to end."""

    def __init__(self, server: Server, collector: Collector, tmp_path: Path, path: str, count: int,
                 group: bool = False) -> None:
        self.server = server
        self.accepted = server.drive(path, count)
        self.stored_before = collector.summary()["stored"]
        self.status, self.took, self.out = server.terminate(group=group)
        collector.wait_for(self.accepted, timeout=2)
        self.summary = collector.summary()
        self.reported = reported_errors(tmp_path)
        self.count = count

    def __str__(self) -> str:
        return (f"accepted {self.accepted}, stored before SIGTERM {self.stored_before}, after {self.summary['stored']}, "
                f"duplicates {self.summary['duplicates']}, reported {self.reported}, status {self.status}, "
                f"ended in {self.took:.2f}s")

    def assert_every_event_delivered_once(self) -> None:
        # All still queued at SIGTERM (the test means something), then each delivered once.
        assert self.accepted == self.count and self.stored_before == 0, (self.accepted, self.stored_before)
        assert self.summary["stored"] == self.accepted and self.summary["duplicates"] == 0, (
            self.summary, self.reported, "".join(self.server.lines))
