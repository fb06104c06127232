"""A sketch, for a design decision, never shipped: delivery in a helper process.

In the SDK the uploader is a thread of the application's process, and every
Python instruction it runs is GIL time the application's threads wait for: the
tail (p99.9) of ``track()`` is set by the uploader's turns (benchmarks/README.md). This sketch measures what moving delivery out of the process
would give, with the SDK's own ``Client.track`` (only the hand-over replaced)
and, in the helper, its Segment destination (request body, headers) and HTTP
transport, in two shapes:

``runs``
    the caller appends each event to a ``RunQueue`` under a lock, as the SDK
    does; a feeder thread writes each complete run (~450 KB) into a pipe (the
    kernel's copy, ~0.5 ms, runs with the GIL released; written by the call that
    completed the run instead, it made that call the slow one: p99.9 477 us in an
    earlier version);
``events``
    no thread at all in the application's process: each call writes its event,
    newline-terminated, into the pipe (one ``os.write`` of ~450 B, atomic below
    PIPE_BUF), and the helper gathers them into requests.

A helper process reads the pipe, POSTs Segment batches (up to 1,000 events and
500 KB, or what came when the pipe has been quiet for 5 ms) and writes back how
many events each request delivered, which ``flush()`` reads.

The helper's CPU (and the kernel's copies) run on the other core and are in
none of the caller's figures: on a 2-core machine the sketch rows run three busy
processes (the caller's, the helper, the sink) where the SDK rows run two, and a
web server with N workers would run N helpers.

What it leaves out, and a real design would need: retries, outcomes and
``on_error`` across the process boundary, a queue bound and backpressure that
never blocks the caller (here a full pipe would), acknowledgements read as they
come (here only at the end, when the input closes), the helper's lifecycle (fork: a child must not write into its
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
from typing import Any, Callable, Iterator, List, Sequence, Tuple

from analytics_sdk.delivery.batching import ENVELOPE_BYTES, MAX_BATCH_BYTES

_RUN = struct.Struct("<QQ")  # (runs) a run's length in bytes and its event count
_ACK = struct.Struct("<Q")  # events delivered by one request
_PIPE_BYTES = 1 << 20  # room for two full runs, or ~2,300 events
_MAX_EVENTS = 1000
_MAX_BYTES = MAX_BATCH_BYTES - ENVELOPE_BYTES  # the Segment API's limit, less the batch envelope
_QUIET = 0.005  # seconds without new events after which the helper sends what it has


def make(host: str, write_key: str, shape: str) -> Tuple[Callable[..., Any], Callable[[], None]]:
    """``(track, flush)`` of a client whose delivery runs in a helper process.

    The SDK's own ``Client.track`` (validation, routing, encoding, size checks),
    with only the hand-over replaced: the route's ``put``, which the client calls
    with each event's bytes."""
    import analytics_sdk

    events_read, events_write = os.pipe()
    acks_read, acks_write = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(events_write, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (ImportError, OSError) as error:  # the writer then blocks sooner while the helper catches up
        print(f"helper_process_sketch: pipe left at its default size ({error})", file=sys.stderr)
    helper = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), shape, str(events_read), str(acks_write), host, write_key],
        pass_fds=(events_read, acks_write),
    )
    os.close(events_read)
    os.close(acks_write)
    if os.read(acks_read, 1) != b"+":  # the helper is up (a real client would not wait for it)
        helper.kill()
        raise RuntimeError("the helper process did not start")
    client = analytics_sdk.Client(write_key, host=host, handle_sigterm=False)
    consumer = client._single.consumer if client._single else None
    assert consumer is not None
    queued = [0]
    if shape == "events":
        write = os.write

        def put(data: bytes, wait: float = 0.0) -> None:
            write(events_write, data + b"\n")  # one write below PIPE_BUF: never interleaved
            queued[0] += 1

        end_of_input: Callable[[], None] = lambda: None
    else:
        put, end_of_input = _runs_hand_over(events_write, queued)
    consumer.put = put  # type: ignore[method-assign,assignment]  # the uploader threads never start

    def flush() -> None:
        end_of_input()
        os.close(events_write)  # the helper sends what it holds, acknowledges, and ends
        delivered = 0
        with os.fdopen(acks_read, "rb") as acks:
            while delivered < queued[0]:
                raw = acks.read(_ACK.size)
                if len(raw) < _ACK.size:  # the helper ended first
                    raise RuntimeError(f"the helper acknowledged {delivered} of {queued[0]} events")
                delivered += _ACK.unpack(raw)[0]
        # The helper then ends on its own (its input is closed); its exit is not timed.

    return client.track, flush


def _runs_hand_over(pipe: int, queued: List[int]) -> Tuple[Callable[..., None], Callable[[], None]]:
    """(runs) A ``put`` that fills runs as the SDK's does, and a feeder thread that
    writes each complete run into the pipe."""
    from analytics_sdk.delivery.runs import Run, RunQueue

    queue = RunQueue(_MAX_EVENTS, _MAX_BYTES)
    lock = threading.Lock()
    complete = threading.Condition(lock)
    ending = [False]

    def put(data: bytes, wait: float = 0.0) -> None:
        with lock:
            if queue.append(data):
                complete.notify()
            queued[0] += 1

    def write_run(run: Run) -> None:
        """Header, then the run's buffer: no copy of it under the GIL."""
        os.write(pipe, _RUN.pack(len(run.joined), len(run)))
        view = memoryview(run.joined)
        while view:
            view = view[os.write(pipe, view):]
        view.release()

    def feed() -> None:
        while True:
            with lock:
                while not queue.oldest_complete() and not ending[0]:
                    complete.wait()
                run = queue.take()
            if not isinstance(run, Run):
                return  # ending, and nothing left
            write_run(run)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()

    def end_of_input() -> None:
        with lock:
            ending[0] = True
            complete.notify()
        feeder.join(timeout=120)  # it writes what is left, then stops

    return put, end_of_input


# -- the helper process ----------------------------------------------------------------


def _batches_of_events(fd: int) -> Iterator[List[bytes]]:
    """(events) Newline-terminated events from the pipe, gathered into batches."""
    pending = b""
    batch: List[bytes] = []
    size = 0
    while True:
        quiet = batch and not select.select([fd], [], [], _QUIET)[0]
        chunk = b"" if quiet else os.read(fd, 1 << 20)
        if not quiet and not chunk:  # the writer closed
            assert not pending, "a partial event at the end of the pipe"
            if batch:
                yield batch
            return
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if batch and (len(batch) == _MAX_EVENTS or size + len(line) + 1 > _MAX_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 1
        if quiet or len(batch) == _MAX_EVENTS:
            yield batch
            batch, size = [], 0


def _batches_of_runs(fd: int) -> Iterator[Tuple[int, bytes]]:
    """(runs) Length-prefixed runs from the pipe: (event count, the run's joined events)."""
    with os.fdopen(fd, "rb") as runs:
        while True:
            raw = runs.read(_RUN.size)
            if len(raw) < _RUN.size:
                return
            size, count = _RUN.unpack(raw)
            yield count, runs.read(size)


def helper_main(shape: str, events_fd: int, acks_fd: int, host: str, write_key: str) -> None:
    """Read batches, POST each through the SDK's Segment destination and transport, acknowledge it."""
    from analytics_sdk import Segment
    from analytics_sdk.delivery.transport import HttpTransport

    destination = Segment(write_key, host=host)
    transport = HttpTransport(destination.url, destination.headers())  # loopback: never a proxy
    if shape == "events":
        batches: Iterator[Tuple[int, Sequence[bytes]]] = ((len(b), b) for b in _batches_of_events(events_fd))
    else:  # a run's events, already comma-joined, go in as one piece of the array
        batches = ((count, [joined]) for count, joined in _batches_of_runs(events_fd))
    with os.fdopen(acks_fd, "wb", buffering=0) as acks:
        acks.write(b"+")
        for count, events in batches:
            attempt = transport.send_parts(destination.body_parts(events))
            if attempt.status != 200:
                raise SystemExit(f"helper: HTTP {attempt.status} ({attempt.error})")
            acks.write(_ACK.pack(count))


if __name__ == "__main__":
    helper_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
