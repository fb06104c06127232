"""A sketch, for a design decision, never shipped: delivery in a helper process.

In the SDK the uploader is a thread of the application's process, and every
Python instruction it runs is GIL time the application's threads wait for: the
tail (p99.9) of ``track()`` is set by the uploader's turns (README,
"Performance"). This sketch measures what moving delivery out of the process
would give, with the SDK's own caller path (``build_track``, its encoder) and
its own HTTP/1.1 client, in two shapes:

``runs``
    the caller appends each event to a ``RunQueue`` under a lock, as the SDK
    does; a feeder thread writes each complete run (~450 KB) into a pipe (the
    kernel's copy, ~0.5 ms, runs with the GIL released; written by the call that
    completed the run instead, it made that call the slow one: p99.9 477 us);
``events``
    no thread at all in the application's process: each call writes its event,
    newline-terminated, into the pipe (one ``os.write`` of ~450 B, atomic below
    PIPE_BUF), and the helper gathers them into requests.

A helper process reads the pipe, POSTs Segment batches (up to 1,000 events and
500 KB, or what came when the pipe has been quiet for 5 ms) and writes back how
many events each request delivered, which ``flush()`` reads.

What it leaves out, and a real design would need: retries, outcomes and
``on_error`` across the process boundary, a queue bound and backpressure that
never blocks the caller (here a full pipe would), acknowledgements read before
their pipe fills, the helper's lifecycle (fork: a child must not write into its
parent's pipe; exit; a helper that dies) and events in the pipe when the
application dies. ``compare.py --sdks sketch_helper_runs,sketch_helper_events,...``
runs it beside the SDK and Segment's (the end-to-end phase only). Only 127.0.0.1
is contacted.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List, Tuple
from urllib.parse import urlsplit

_RUN = struct.Struct("<QQ")  # (runs) a run's length in bytes and its event count
_ACK = struct.Struct("<Q")  # events delivered by one request
_PIPE_BYTES = 1 << 20  # room for two full runs, or ~2,300 events
_MAX_EVENTS = 1000
_MAX_BYTES = 500_000 - 64  # the Segment API's limit, less the batch envelope
_QUIET = 0.005  # seconds without new events after which the helper sends what it has


def make(host: str, write_key: str, shape: str) -> Tuple[Callable[[str, str, Dict[str, Any]], bool], Callable[[], None]]:
    """``(track, flush)`` of a client whose delivery runs in a helper process."""
    from analytics_sdk import messages
    from analytics_sdk.message_encoding import encode_message

    events_read, events_write = os.pipe()
    acks_read, acks_write = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(events_write, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (ImportError, OSError):
        pass  # a smaller pipe: the writer blocks while the helper catches up
    helper = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), shape, str(events_read), str(acks_write), host, write_key],
        pass_fds=(events_read, acks_write),
    )
    os.close(events_read)
    os.close(acks_write)
    if os.read(acks_read, 1) != b"+":  # the helper is up (a real client would not wait for it)
        raise RuntimeError("the helper process did not start")
    queued = [0]

    def wait_for_acks() -> None:
        delivered = 0
        while delivered < queued[0]:
            raw = os.read(acks_read, _ACK.size)
            if len(raw) < _ACK.size:
                raise RuntimeError("the helper process stopped")
            delivered += _ACK.unpack(raw)[0]
        os.close(events_write)
        helper.wait(timeout=30)

    if shape == "events":
        write = os.write

        def track(user_id: str, event: str, properties: Dict[str, Any]) -> bool:
            write(events_write, encode_message(messages.build_track(user_id, event, properties)) + b"\n")
            queued[0] += 1
            return True

        return track, wait_for_acks
    return _runs_client(events_write, queued, wait_for_acks, messages.build_track, encode_message)


def _runs_client(pipe: int, queued: List[int], wait_for_acks: Callable[[], None], build: Any, encode: Any) -> Tuple[Any, Any]:
    from analytics_sdk.delivery.runs import RunQueue

    queue = RunQueue(_MAX_EVENTS, _MAX_BYTES)
    lock = threading.Lock()
    complete = threading.Condition(lock)
    flushing = [False]

    def track(user_id: str, event: str, properties: Dict[str, Any]) -> bool:
        data = encode(build(user_id, event, properties))
        with lock:
            if queue.append(data):
                complete.notify()
            queued[0] += 1
        return True

    def feed() -> None:
        while True:
            with lock:
                while not queue.oldest_complete() and not flushing[0]:
                    complete.wait()
                run: Any = queue.take()
            if not len(run):
                return  # flushing, and nothing left
            view = memoryview(_RUN.pack(len(run.joined), len(run)) + run.joined)
            while view:
                view = view[os.write(pipe, view):]

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()

    def flush() -> None:
        with lock:
            flushing[0] = True
            complete.notify()
        feeder.join(timeout=120)  # it writes what is left, then stops
        wait_for_acks()

    return track, flush


# -- the helper process ----------------------------------------------------------------


def _batches_of_events(fd: int) -> Any:
    """(events) Newline-terminated events from the pipe, gathered into (count, bytes) batches."""
    pending = b""
    batch: List[bytes] = []
    size = 0
    while True:
        quiet = batch and not select.select([fd], [], [], _QUIET)[0]
        chunk = b"" if quiet else os.read(fd, 1 << 20)
        if not quiet and not chunk:  # the writer closed
            if batch:
                yield len(batch), b",".join(batch)
            return
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if batch and (len(batch) == _MAX_EVENTS or size + len(line) + 1 > _MAX_BYTES):
                yield len(batch), b",".join(batch)
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 1
        if quiet or len(batch) == _MAX_EVENTS:
            yield len(batch), b",".join(batch)
            batch, size = [], 0


def _batches_of_runs(fd: int) -> Any:
    """(runs) Length-prefixed runs from the pipe, one batch each."""
    with os.fdopen(fd, "rb") as runs:
        while True:
            raw = runs.read(_RUN.size)
            if len(raw) < _RUN.size:
                return
            size, count = _RUN.unpack(raw)
            yield count, runs.read(size)


def helper_main(shape: str, events_fd: int, acks_fd: int, host: str, write_key: str) -> None:
    """Read batches, POST each as one Segment batch, acknowledge it."""
    import base64

    from analytics_sdk.delivery.http11 import Connection, request_head

    url = urlsplit(host)
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    head = request_head(url.netloc, "/v1/batch", {"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    connection = Connection(url.hostname or "127.0.0.1", url.port or 80, head)
    batches = _batches_of_events(events_fd) if shape == "events" else _batches_of_runs(events_fd)
    with os.fdopen(acks_fd, "wb", buffering=0) as acks:
        acks.write(b"+")
        for count, joined in batches:
            response = connection.post_parts([b'{"batch":[', joined, b'],"sentAt":null}'], timeout=15)
            if response.status != 200:
                raise SystemExit(f"helper: HTTP {response.status}")
            acks.write(_ACK.pack(count))


if __name__ == "__main__":
    helper_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
