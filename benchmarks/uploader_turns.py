"""The uploader's GIL turns: how long it runs Python between two blocking calls.

Each time the uploader thread comes back from a blocking call (``poll``, ``recv``,
``sendmsg``, a condition wait) it holds the GIL until the next one, and a caller
thread that wants the GIL waits that long: one stalled call per turn. This runs
the compare.py workload (``--events`` track() calls against its loopback sink,
one process) with the uploader's blocking calls wrapped, and prints the turns by
the calls they lie between (wall time, so a turn also counts time the OS gave
another process)::

    python benchmarks/uploader_turns.py                      # the speed extra if installed
    ANALYTICS_SDK_JSON=stdlib python benchmarks/uploader_turns.py

The wrappers add a microsecond or two per call. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import collections
import os
import select
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analytics_sdk  # noqa: E402
from analytics_sdk.delivery import http11  # noqa: E402
from compare import WRITE_KEY, Sink, event_properties  # noqa: E402

_clock = time.perf_counter_ns
Blocking = Tuple[int, int, str]  # wall start, wall end, call
_calls: List[Blocking] = []


def _timed(name: str, call: Any, *args: Any) -> Any:
    """``call(*args)``, recorded as a blocking call named ``name``."""
    started = _clock()
    try:
        return call(*args)
    finally:
        _calls.append((started, _clock(), name))


class _Socket:
    """A socket whose blocking calls are timed (everything else passes through)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, size: int) -> bytes:
        return _timed("recv", self._sock.recv, size)

    def sendmsg(self, parts: Any) -> int:
        return _timed("sendmsg", self._sock.sendmsg, parts)


class _Poll:
    def __init__(self) -> None:
        self._poll = select.poll()

    def register(self, *args: Any) -> None:
        self._poll.register(*args)

    def poll(self, timeout_ms: Optional[float] = None) -> Any:
        return _timed("poll", self._poll.poll, timeout_ms)


class _Select:
    """http11 looks ``select.poll`` up at each wait: hand it the timed one."""

    poll = _Poll

    def __getattr__(self, name: str) -> Any:
        return getattr(select, name)


class _Condition:
    def __init__(self, condition: Any) -> None:
        self._condition = condition

    def __getattr__(self, name: str) -> Any:
        return getattr(self._condition, name)

    def wait(self, timeout: Optional[float] = None) -> bool:
        return _timed("wait", self._condition.wait, timeout)


def _instrument() -> None:
    connect = http11.Connection._connect

    def timed_connect(self: Any, timeout: float) -> None:
        connect(self, timeout)
        self._sock = _Socket(self._sock)

    http11.Connection._connect = timed_connect  # type: ignore[method-assign]
    http11.select = _Select()  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    if not hasattr(select, "poll"):
        raise SystemExit("needs select.poll (not on Windows)")
    _instrument()
    sink = Sink()
    try:
        client = analytics_sdk.Client(WRITE_KEY, host=sink.url, max_queue_size=args.events + 1000, flush_timeout=120)
        route = client._single
        assert route is not None
        route.consumer.not_empty = _Condition(route.consumer.not_empty)  # the uploader waits on this one
        props = [event_properties(i) for i in range(args.events)]
        users = [f"user-{i % 1000}" for i in range(1000)]
        timings = [0] * args.events
        for i in range(args.events):
            started = _clock()
            client.track(users[i % 1000], "Order Completed", props[i])
            timings[i] = _clock() - started
        client.flush()
    finally:
        sink.stop()

    calls = sorted(_calls)
    turns: Dict[str, List[float]] = collections.defaultdict(list)
    for (_, ended, before), (started, _, after) in zip(calls, calls[1:]):
        turns[f"{before} -> {after}"].append((started - ended) / 1000)
    every = sorted((t for values in turns.values() for t in values), reverse=True)
    requests = sum(1 for *_, call in calls if call == "sendmsg")
    print(f"{args.events:,} calls, {requests} sendmsg, encoder {analytics_sdk.json_codec.ENCODER}")
    print("uploader turns (wall us between blocking calls):")
    for key, values in sorted(turns.items(), key=lambda item: -sum(item[1])):
        values.sort()
        print(f"  {key:20s} {len(values):5d} turns   median {values[len(values) // 2]:7.1f}   "
              f"p90 {values[int(len(values) * 0.9)]:7.1f}   max {values[-1]:8.1f}")
    if len(every) >= 100:
        print(f"  the 100th longest turn: {every[99]:.1f} us ({len(every)} turns in all)")
    timings.sort()
    print(f"caller: mean {sum(timings) / args.events / 1000:.1f} us, p99 {timings[int(0.99 * args.events)] / 1000:.1f} us, "
          f"p99.9 {timings[int(0.999 * args.events)] / 1000:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
