"""``python -X dev -W error::ResourceWarning``: no socket of ours is left for the garbage
collector to close, at shutdown, at exit, or in a fork child (issue 21, item 7).

Each uploader keeps a keep-alive connection; before the fix every one of them was
closed by the garbage collector (one ResourceWarning per uploader at exit, one
more in each fork child for the parent's socket). Runs on every Python of the
matrix (``make test-all``).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

from analytics_sdk.devserver import Collector, Faults

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")

# Tracks, flushes, forks a child that tracks too (its own uploader and socket), and
# ends both processes normally, so finalizers and the garbage collector run.
_SCRIPT = """
    import gc, os, sys, threading, time, analytics_sdk

    url, tmp, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "module":  # the module API, ended by the exit hook (no shutdown() call)
        analytics_sdk.write_key, analytics_sdk.host = "k", url
        client = analytics_sdk
    else:
        options = {"default": {}, "dropped": {}, "two_uploaders": {"thread": 2, "upload_size": 10},
                   "spool": {"spool_path": os.path.join(tmp, "spool.db")}}[mode]
        client = analytics_sdk.Client("k", host=url, **options)

    def send(who):
        for i in range(count):
            client.track(who, "Event", {"i": i})
        assert client.flush(timeout=20), who

    def end():
        global client
        if mode == "dropped":  # no shutdown(): the client is dropped, its uploader ends
            del client
            gc.collect()
            deadline = time.monotonic() + 10
            while any(t.name == "analytics_sdk-uploader" for t in threading.enumerate()):
                assert time.monotonic() < deadline, "the uploader of a dropped client did not end"
                time.sleep(0.01)
            gc.collect()
        elif mode != "module":
            client.shutdown()

    send("parent")
    pid = os.fork()
    if pid == 0:
        send("child")
        end()
        sys.exit(0)  # a normal exit: atexit hooks, then the garbage collector
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    send("parent")
    end()
    print("done", flush=True)
"""


@pytest.mark.parametrize(
    "mode, count", [("default", 20), ("two_uploaders", 300), ("spool", 20), ("module", 20), ("dropped", 20)]
)
def test_no_resource_warning_at_shutdown_or_in_a_fork_child(tmp_path, mode, count):
    # 10 ms per request: with two uploaders, both are busy and each opens its socket.
    with Collector(faults=Faults(latency=0.01)) as collector:
        proc = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", textwrap.dedent(_SCRIPT),
             collector.url, str(tmp_path), mode, str(count)],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr
        warned = proc.stderr.count("ResourceWarning")
        assert warned == 0, f"{warned} ResourceWarning(s):\n{proc.stderr}"
        assert collector.wait_for(3 * count, timeout=10)
        summary = collector.summary()
        assert summary["stored"] == 3 * count and summary["duplicates"] == 0, summary


def test_connections_of_ended_threads_are_closed_not_piled_up():
    # sync_mode sends on the caller's thread: a thread per request must not leave a socket each.
    from analytics_sdk.delivery.transport import HttpTransport

    with Collector() as collector, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        transport = HttpTransport(collector.url + "/v1/batch", {"Content-Type": "application/json"})
        body = b'{"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "m%d"}]}'
        sizes = []
        for i in range(10):
            thread = threading.Thread(target=transport.send, args=(body % i,))
            thread.start()
            thread.join()
            sizes.append(len(getattr(transport, "_conns", ())))
        transport.close()
        del transport
        gc.collect()
    assert max(sizes) <= 2, sizes
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not unclosed, f"{len(unclosed)} ResourceWarning(s): {unclosed}"
