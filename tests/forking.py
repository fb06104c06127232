"""Waiting for a fork child in a test: bounded, so a hung child fails the test."""

from __future__ import annotations

import os
import signal
import time


def wait_child(pid: int, timeout: float) -> int:
    """The child's exit code; if it has not ended within ``timeout`` s it is killed
    and the test fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the fork child did not end in {timeout} s: it hangs")
