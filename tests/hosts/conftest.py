"""Helpers for the tests that run a real host (server or worker) as a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

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
