"""Where the uploader's GIL time goes, and which of the caller's calls it stalls.

Runs the compare.py workload (``--events`` track() calls against its loopback
sink, one process) with the uploader's phases wrapped in timers:

* per phase, thread CPU (``time.thread_time_ns``) per request, mean and max;
* every caller call slower than ``--slow-us`` attributed to the uploader phases
  that overlapped it in wall-clock time, and to its position in a batch
  (``index % upload_size``: 99 means the call that filled a batch and handed
  the uploader the GIL).

    python benchmarks/uploader_profile.py                      # the speed extra if installed
    ANALYTICS_SDK_JSON=stdlib python benchmarks/uploader_profile.py

The timers add a few microseconds per phase; compare runs of this script with
each other, not with compare.py. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analytics_sdk  # noqa: E402
from analytics_sdk.delivery import consumer, http11, linger, uploader  # noqa: E402
from compare import WRITE_KEY, Sink, event_properties  # noqa: E402

_clock = time.perf_counter_ns
_cpu = time.thread_time_ns

Span = Tuple[int, int, str]  # wall start, wall end, phase


def _timed(target: Any, name: str, phase: str, spans: List[Span], cpu: Dict[str, List[int]]) -> None:
    """Replace ``target.name`` with a wrapper that records its wall span and thread CPU."""
    original: Callable[..., Any] = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, used = _clock(), _cpu()
        try:
            return original(*args, **kwargs)
        finally:
            cpu[phase].append(_cpu() - used)
            spans.append((wall, _clock(), phase))

    setattr(target, name, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--slow-us", type=float, default=60.0)
    args = parser.parse_args()

    spans: List[Span] = []
    cpu: Dict[str, List[int]] = collections.defaultdict(list)
    _timed(linger.Batcher, "next_record", "take batch", spans, cpu)
    _timed(uploader.Uploader, "_apply", "apply reply", spans, cpu)
    _timed(consumer.Consumer, "release", "release", spans, cpu)
    _timed(http11.Connection, "_read_response", "read response", spans, cpu)

    sink = Sink()
    try:
        client = analytics_sdk.Client(WRITE_KEY, host=sink.url, max_queue_size=args.events + 1000, flush_timeout=120)
        route = client._single
        assert route is not None
        _timed(route.destination, "body_parts", "build body", spans, cpu)
        _timed(route.consumer.transport, "send_parts", "send + read (whole request)", spans, cpu)
        props = [event_properties(i) for i in range(args.events)]
        users = [f"user-{i % 1000}" for i in range(1000)]
        timings = [0] * args.events
        starts = [0] * args.events
        for i in range(args.events):
            started = _clock()
            client.track(users[i % 1000], "Order Completed", props[i])
            timings[i] = _clock() - started
            starts[i] = started
        client.flush()
        upload_size = route.consumer.upload_size
    finally:
        sink.stop()

    requests = len(cpu["build body"])
    print(f"{args.events:,} calls, {requests} requests ({args.events / max(1, requests):.0f} events each)")
    print(f"encoder: {analytics_sdk.json_codec.ENCODER}\n")
    print("uploader thread CPU per request:")
    for phase, values in sorted(cpu.items(), key=lambda item: -sum(item[1])):
        print(f"  {phase:30s} mean {sum(values) / len(values) / 1000:7.1f} us   max {max(values) / 1000:8.1f} us")

    slow_ns = args.slow_us * 1000
    spans.sort()
    by_overlap: collections.Counter = collections.Counter()
    by_position: collections.Counter = collections.Counter()
    slow = [i for i in range(args.events) if timings[i] > slow_ns]
    for i in slow:
        begin, end = starts[i], starts[i] + timings[i]
        phases = sorted({phase for s, e, phase in spans if s < end and e > begin and "whole" not in phase})
        by_overlap[", ".join(phases) or "(no uploader phase)"] += 1
        by_position["fills a batch (hand-off)" if i % upload_size == upload_size - 1 else "other"] += 1
    ordered = sorted(timings)
    print(f"\ncaller: mean {sum(timings) / args.events / 1000:.1f} us, p99 {ordered[int(0.99 * args.events)] / 1000:.1f} us, "
          f"p99.9 {ordered[int(0.999 * args.events)] / 1000:.1f} us")
    print(f"{len(slow)} calls over {args.slow_us:.0f} us ({len(slow) / args.events * 100:.2f}%), "
          f"{sum(timings[i] for i in slow) / sum(timings) * 100:.1f}% of the caller's time; by position: {dict(by_position)}")
    print("overlapping uploader phases:")
    for phases, count in by_overlap.most_common(8):
        print(f"  {count:6d}  {phases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
