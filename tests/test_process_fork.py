"""Forks no at-fork hook sees (uWSGI forks in C): libc's fork() called directly."""

from __future__ import annotations

import ctypes
import os
import sys

import pytest

from analytics_sdk import Client, process
from analytics_sdk.devserver import Collector
from analytics_sdk.messages import new_message_id

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="libc fork() through ctypes")

# PyDLL keeps the GIL during the call, as uWSGI's master does not, but it is the
# same blind spot: CPython runs no fork handling of its own around it.
_raw_fork = ctypes.PyDLL(None).fork


def _in_raw_child(work) -> bytes:
    """Run ``work()`` (returns bytes) in a child made by libc's fork(); its output."""
    read_fd, write_fd = os.pipe()
    pid = _raw_fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.write(write_fd, work())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks)


def test_a_child_forked_in_c_draws_its_own_message_ids():
    parent_id = new_message_id()
    child = _in_raw_child(lambda: f"{process.forked()} {new_message_id()} {process.forked()}".encode()).decode()
    noticed_before, child_id, noticed_after = child.split()
    assert noticed_before == "True" and noticed_after == "False"
    assert child_id[:24] != parent_id[:24], "the child kept its parent's messageId prefix"
    assert not process.forked()


def test_a_child_forked_in_c_sends_its_own_events_with_its_own_uploader():
    with Collector() as collector:
        client = Client("k", host=collector.url, upload_interval=0.01)
        try:
            for i in range(200):
                client.track("parent", "Before Fork", {"i": i})
            assert client.flush(timeout=10)

            def child() -> bytes:
                for i in range(300):
                    client.track("child", "In Child", {"i": i})
                return str(client.flush(timeout=10)).encode()

            # The parent's uploader thread exists only in the parent: without noticing
            # the fork, the child queued to a thread that is not there (flush: False).
            assert _in_raw_child(child) == b"True"
            assert collector.wait_for(500, timeout=10)
            summary = collector.summary()
            assert summary["stored"] == 500 and summary["duplicates"] == 0
            assert len(collector.events(event="In Child")) == 300
        finally:
            client.shutdown(timeout=5)


def test_hooks_run_once_per_child_in_registration_order(monkeypatch):
    calls = []
    monkeypatch.setattr(process, "_hooks", [lambda: calls.append("a"), lambda: (calls.append("b"), process.check())])

    def child() -> bytes:
        process.check()
        process.check()
        return ",".join(calls).encode()

    assert _in_raw_child(child) == b"a,b"
    assert calls == []  # the parent ran none
