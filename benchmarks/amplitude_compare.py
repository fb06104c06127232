"""Side by side: ``analytics_sdk.amplitude`` vs ``amplitude-analytics`` on the same event.

Each run is a fresh process per SDK against one loopback Amplitude sink on
127.0.0.1 (answers ``{"code": 200, ...}``); runs are interleaved (ours, theirs,
ours, theirs...) and the medians of ``--runs`` are reported, with ratios::

    python benchmarks/amplitude_compare.py            # make bench runs this too
    python benchmarks/amplitude_compare.py --events 5000 --runs 1

* caller us/call: mean time of one ``client.track(BaseEvent(...))`` in the caller
  (event construction included: it is part of what the caller pays);
* events/s: end to end, from the first call until ``flush()`` returned and the
  sink holds every event; each event is checked to arrive exactly once.

Targets (issue 11): caller cost <= 0.15x and events/s >= 5x amplitude-analytics.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

SDKS = {"ours": "analytics_sdk.amplitude", "theirs": "amplitude (amplitude-analytics)"}


class Sink:
    def __init__(self) -> None:
        self.seen: Counter = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes) -> None:
                # One write per response: split writes meet the client's delayed ACK (~40 ms each).
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                self.wfile.write(head + body)

            def do_GET(self) -> None:  # noqa: N802 - the worker polls how many arrived
                with sink.lock:
                    count = sum(sink.seen.values())
                self._send(str(count).encode())

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                events = json.loads(raw)["events"]
                with sink.lock:
                    sink.seen.update(e["event_properties"]["i"] for e in events)
                self._send(b'{"code": 200, "events_ingested": %d}' % len(events))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/2/httpapi"

    def reset(self) -> None:
        with self.lock:
            self.seen = Counter()


def worker(sdk: str, url: str, events: int) -> None:
    """One run in this (fresh) process; prints a JSON line of figures."""
    import urllib.request

    if sdk == "ours":
        from analytics_sdk.amplitude import Amplitude, BaseEvent, Config
    else:
        from amplitude import Amplitude, BaseEvent, Config  # type: ignore[no-redef]
    client = Amplitude("bench-key", Config(server_url=url))
    perf = time.perf_counter
    spent = 0.0
    start = perf()
    for i in range(events):
        t0 = perf()
        client.track(BaseEvent("Song Played", user_id="user-12345", device_id="device-12345",
                               event_properties={"i": i, "title": "Blue in Green", "duration": 337.5}))
        spent += perf() - t0
    futures = client.flush()
    for future in futures if isinstance(futures, list) else [futures]:
        if future is not None:
            future.result()
    deadline = time.monotonic() + 120
    while int(urllib.request.urlopen(url.replace("/2/httpapi", "/count")).read()) < events:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    elapsed = perf() - start
    print(json.dumps({"caller_us": spent / events * 1e6, "events_per_s": events / elapsed}))
    client.shutdown()
    sys.stdout.flush()
    os._exit(0)  # amplitude-analytics' pool threads may linger; the figures are out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", choices=sorted(SDKS))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.events)
        return
    sink = Sink()
    results: Dict[str, List[Dict[str, float]]] = {name: [] for name in SDKS}
    for _ in range(args.runs):
        for name in SDKS:  # interleaved: ours, theirs, ours, theirs...
            sink.reset()
            out = subprocess.run([sys.executable, __file__, "--worker", name, "--url", sink.url,
                                  "--events", str(args.events)], capture_output=True, text=True, timeout=600)
            line = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if not line:
                sys.exit(f"{name} failed:\n{out.stderr[-2000:]}")
            with sink.lock:
                exact = set(sink.seen) == set(range(args.events)) and all(c == 1 for c in sink.seen.values())
            if not exact:
                dupes = sum(c - 1 for c in sink.seen.values())
                sys.exit(f"{name}: {len(sink.seen)} of {args.events} events arrived, {dupes} duplicates")
            results[name].append(json.loads(line[0]))
    median = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results.items()}
    caller_ratio = median["ours"]["caller_us"] / median["theirs"]["caller_us"]
    rate_ratio = median["ours"]["events_per_s"] / median["theirs"]["events_per_s"]
    print(f"{args.events} events x {args.runs} interleaved runs, medians (every event exactly once)")
    print(f"{'':34} {'caller us/call':>15} {'events/s':>10}")
    for name, label in SDKS.items():
        print(f"{label:34} {median[name]['caller_us']:15.1f} {median[name]['events_per_s']:10.0f}")
    print(f"ratio ours/theirs: caller cost {caller_ratio:.3f}x (target <= 0.15x), "
          f"events/s {rate_ratio:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
