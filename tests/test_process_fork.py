"""Forks no at-fork hook sees (uWSGI forks in C): libc's fork() called directly.

Each case runs in a fresh interpreter (a subprocess), as a uWSGI master is: a raw
fork of the multi-threaded test runner could copy locks its other threads hold."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from analytics_sdk.devserver import Collector

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="libc fork() through ctypes")

# PyDLL keeps the GIL during the call (uWSGI's master does not, see prefork.py), but it
# is the same blind spot: CPython runs none of its fork handling around it.
PRELUDE = """
    import ctypes, json, os, sys
    import analytics_sdk
    from analytics_sdk import Client, process
    from analytics_sdk.messages import new_message_id

    _raw_fork = ctypes.PyDLL(None).fork

    def in_raw_child(work):
        read_fd, write_fd = os.pipe()
        pid = _raw_fork()
        if pid == 0:
            status = 1
            try:
                os.write(write_fd, json.dumps(work()).encode())
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
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        return json.loads(b"".join(chunks))
"""


def _run(body: str, *args: str) -> dict:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_child_forked_in_c_draws_its_own_message_ids():
    seen = _run("""
        parent_id = new_message_id()
        child = in_raw_child(lambda: [process.forked(), new_message_id(), process.forked()])
        print(json.dumps({"parent": parent_id, "child": child, "parent_forked": process.forked()}))
    """)
    noticed_before, child_id, noticed_after = seen["child"]
    assert noticed_before is True and noticed_after is False
    assert child_id[:24] != seen["parent"][:24], "the child kept its parent's messageId prefix"
    assert seen["parent_forked"] is False


def test_a_child_forked_in_c_sends_its_own_events_with_its_own_uploader():
    with Collector() as collector:
        seen = _run("""
            client = Client("k", host=sys.argv[1], upload_interval=0.01)
            for i in range(200):
                client.track("parent", "Before Fork", {"i": i})
            assert client.flush(timeout=10)

            def child():
                for i in range(300):
                    client.track("child", "In Child", {"i": i})
                return client.flush(timeout=10)

            print(json.dumps({"child_flushed": in_raw_child(child), "parent_flushed": client.flush(timeout=10)}))
        """, collector.url)
        # The parent's uploader thread exists only in the parent: without noticing the
        # fork, the child queued to a thread that is not there (its flush: False).
        assert seen == {"child_flushed": True, "parent_flushed": True}
        assert collector.wait_for(500, timeout=10)
        summary = collector.summary()
        assert summary["stored"] == 500 and summary["duplicates"] == 0
        assert len(collector.events(event="In Child")) == 300


def test_hooks_run_once_per_child_in_registration_order():
    seen = _run("""
        calls = []
        process._hooks[:] = [lambda: calls.append("a"), lambda: (calls.append("b"), process.check())]

        def child():
            process.check()
            process.check()
            return calls

        print(json.dumps({"child": in_raw_child(child), "parent": calls}))
    """)
    assert seen == {"child": ["a", "b"], "parent": []}
