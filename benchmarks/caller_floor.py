"""The caller's cost with nothing running beside it: ``track()`` with ``send=False``
and its parts, one message reused, ``timeit`` best of 15 (the floor that
compare.py's figures stand on)::

    python benchmarks/caller_floor.py                              # orjson if installed
    ANALYTICS_SDK_JSON=stdlib python benchmarks/caller_floor.py    # the default install

Then the queue hand-over, still with no uploader turns beside the caller:
``track()`` queued to a loopback listener that never answers (the uploader sends
one request and waits on it), the same loop with ``send=False``, and the pieces
of ``Consumer.put``. Queued minus not queued is what handing an event to the
uploader costs the caller before the uploader runs any Python at all; the rest
of compare.py's caller figure is the uploader's turns. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import timeit
from typing import Any, Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analytics_sdk  # noqa: E402
from analytics_sdk import messages  # noqa: E402
from analytics_sdk.message_bytes import encode_message  # noqa: E402
from compare import event_properties  # noqa: E402


def best_us(call: Callable[[], Any], number: int = 20000) -> float:
    return min(timeit.repeat(call, number=number, repeat=15)) / number * 1e6


def main() -> int:
    properties = event_properties(5)
    message = messages.build_track("user-1", "Order Completed", properties)
    client = analytics_sdk.Client("k", send=False)
    print(f"encoder: {analytics_sdk.json_codec.ENCODER}")
    for label, call in (
        ("track(), send=False", lambda: client.track("user-1", "Order Completed", properties)),
        ("build_track", lambda: messages.build_track("user-1", "Order Completed", properties)),
        ("encode_message", lambda: encode_message(message)),
        ("new_message_id", messages.new_message_id),
    ):
        print(f"  {label:22s} {best_us(call):6.2f} us")
    queue_hand_over(properties)
    return 0


def loop_us(client: Any, properties: Any, calls: int) -> float:
    """Mean cost of ``calls`` track() calls in a plain loop (one clock read per loop)."""
    track = client.track
    started = time.perf_counter()
    for _ in range(calls):
        track("user-1", "Order Completed", properties)
    return (time.perf_counter() - started) / calls * 1e6


def queue_hand_over(properties: Any, calls: int = 20000, repeats: int = 15) -> None:
    logging.getLogger("analytics_sdk").setLevel(logging.CRITICAL)  # the stalled request's report at exit
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # never accepted: connect and send succeed, no answer comes
    host = f"http://127.0.0.1:{listener.getsockname()[1]}"
    not_queued = analytics_sdk.Client("k", send=False)
    queued_us: List[float] = []
    alone_us: List[float] = []
    for _ in range(repeats):  # interleaved, a fresh queue each time
        # upload_interval=0: the uploader takes the first event at once (no lingering for
        # a batch) and then waits on the silent listener (timeout 15 s) while the loop runs.
        client = analytics_sdk.Client("k", host=host, max_queue_size=calls + 100, upload_interval=0,
                                      handle_sigterm=False, on_error=lambda *args: None)
        client.track("user-1", "Order Completed", properties)
        consumer = client._single.consumer if client._single else None
        assert consumer is not None
        for _ in range(100):
            if not consumer.depth:
                break
            time.sleep(0.01)
        else:
            raise SystemExit("the uploader did not take the first event")
        queued_us.append(loop_us(client, properties, calls))
        alone_us.append(loop_us(not_queued, properties, calls))
        client.shutdown(timeout=0)
    item = encode_message(messages.build_track("user-1", "Order Completed", properties))
    lock = threading.Lock()

    def locked() -> None:
        with lock:
            pass

    def nothing() -> None:
        pass

    assert consumer is not None
    run_queue = consumer.backlog.new_queue()
    print(f"queue hand-over (no uploader turns; a plain loop, best of {repeats} x {calls:,}):")
    print(f"  {'track(), send=False':22s} {min(alone_us):6.2f} us   (a plain loop: no timeit overhead)")
    print(f"  {'track(), queued':22s} {min(queued_us):6.2f} us"
          f"   (+{min(queued_us) - min(alone_us):.2f} us: the hand-over)")
    call_overhead = best_us(nothing, number=1000)  # what timeit adds per call, taken off the pieces
    for label, call in (
        ("  of which: the lock", locked),
        ("  RunQueue.append", lambda: run_queue.append(item)),
    ):
        print(f"  {label:22s} {best_us(call, number=1000) - call_overhead:6.2f} us")
    print("  (the rest of the hand-over: Consumer.put's checks and counts, and a queue growing in memory)")


if __name__ == "__main__":
    sys.exit(main())
