"""``make demo``: it runs, ends by saying what to do next, and installs only what it needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_ends_with_the_next_commands_and_they_work(tmp_path):
    result = subprocess.run([sys.executable, "-m", "analytics_sdk.devtools.demo"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    tail = result.stdout.strip().splitlines()[-4:]
    assert tail[0] == "Next: watch your own app's events.", tail
    serve = re.search(r"Start the collector:\s+(.+ serve --port 8088 --db events\.db)$", tail[1])
    assert serve, tail
    assert "http://127.0.0.1:8088/" in tail[2] and " events" in tail[2]
    assert 'analytics_sdk.host = "http://127.0.0.1:8088"' in tail[3]
    # The printed command starts this environment's CLI (checked with --help: nothing listens).
    command = serve.group(1).split()[:-5]
    helped = subprocess.run(command + ["serve", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "--port" in helped.stdout, helped.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_installs_the_package_alone():
    # -n: print the commands without running them; -B: as on a fresh clone, where nothing is built yet.
    planned = subprocess.run(["make", "-n", "-B", "--no-print-directory", "-C", str(ROOT), "demo"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "MAKEFLAGS": ""})
    assert planned.returncode == 0, planned.stderr
    installs = [line for line in planned.stdout.splitlines() if "pip install" in line]
    assert installs and all("[" not in line for line in installs), installs  # no extra: not the test tools
    assert any(line.rstrip().endswith(" -e .") for line in installs), installs
    assert planned.stdout.strip().splitlines()[-1].endswith("-m analytics_sdk.devtools.demo")
