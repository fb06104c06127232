"""Waiting in a test: for a condition or a fork child, always bounded, never for a fixed time."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable


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


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` became true within ``timeout`` s (polled)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
