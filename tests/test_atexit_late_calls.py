"""An application's atexit handler that runs after ours and tracks (registered before
the import, so it runs later): Python 3.12 refuses new threads then, and 3.13 kills
the daemon thread it starts. The call must deliver on its own thread, or report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import List

import pytest

from analytics_sdk.devserver import Collector, Faults

REPO = Path(__file__).resolve().parents[1]

CASE = """
    import atexit, sys

    def late():
        ok, msg = analytics_sdk.track("u", "At Exit")
        print("track returned", ok, flush=True)

    atexit.register(late)  # before the import: runs after the SDK's own exit hook
    import analytics_sdk

    analytics_sdk.write_key = "k"
    analytics_sdk.host = sys.argv[1]
    analytics_sdk.exit_timeout = 1
    analytics_sdk.max_retries = 100
    analytics_sdk.on_error = lambda error, batch: print("reported", error.reason, len(batch), flush=True)
"""


def _interpreters() -> List[str]:
    """This one, and the 3.12/3.13 pyenv has (the SDK and its pure-Python dependencies
    come from this test run's path)."""
    found = [sys.executable]
    pyenv = shutil.which("pyenv")
    for version in ("3.12", "3.13"):
        if sys.version.startswith(version) or pyenv is None:
            continue
        listed = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True).stdout.split()
        match = [v for v in listed if v.startswith(version + ".")]
        if match:
            prefix = subprocess.run([pyenv, "prefix", match[-1]], capture_output=True, text=True).stdout.strip()
            if prefix:
                found.append(os.path.join(prefix, "bin", "python"))
    return found


def _run(python: str, url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANALYTICS_SDK_JSON="stdlib")  # (orjson of this venv may not fit that Python)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    return subprocess.run([python, "-c", textwrap.dedent(CASE), url], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("python", _interpreters())
def test_a_call_from_a_later_atexit_handler_is_delivered(python: str) -> None:
    with Collector() as collector:
        result = _run(python, collector.url)
        assert "track returned True" in result.stdout, result.stderr
        assert collector.summary()["stored"] == 1, (result.stdout, result.stderr[-2000:])


@pytest.mark.parametrize("python", _interpreters())
def test_a_call_from_a_later_atexit_handler_is_reported_when_it_cannot_be_delivered(python: str) -> None:
    with Collector(faults=Faults(error_rate=1.0)) as collector:
        result = _run(python, collector.url)
        assert "track returned True" in result.stdout, result.stderr
        assert "reported" in result.stdout, (result.stdout, result.stderr[-2000:])
