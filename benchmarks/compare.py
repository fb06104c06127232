"""Side-by-side benchmark: analytics_sdk vs segment-analytics-python (and peers).

Every SDK gets the same workload against the same fast loopback sink, each run in
a fresh process, three runs each; the table shows medians and ratios against
segment-analytics-python from the same run::

    make bench                               # or: python benchmarks/compare.py
    python benchmarks/compare.py --events 20000 --runs 1    # a quick look

Figures per SDK:

* caller us/call   mean cost of one ``track()`` in the caller's thread while the
                   uploader runs (from per-call timings of ``--events`` calls);
* p50/p99/p99.9/max  single-call latency from the same timings;
* events/s         end to end: from the first call until ``flush()`` returned and
                   the sink holds every event (checked exactly once by id);
* drain ms         from the last call until ``flush()`` returned: near zero when
                   the uploader keeps up, so events/s is bounded by caller cost;
* RSS B/event      resident memory growth per queued event while the sink stalls;
* refused          calls refused (queue full) when the same loop runs with the SDK's
                   default queue size (10,000 for all of them): an uploader that lags
                   behind a busy caller costs events, which the other figures, run
                   with a queue as large as the loop, cannot show;
* probe ms         a fixed pure-Python loop timed before and after the run: the
                   machine's own speed then (its ratio far from 1.00x means the
                   machine ran at another speed for that SDK than for Segment's).

``analytics_sdk`` runs twice: with the standard-library encoder (the default
install) and with orjson (the ``speed`` extra). The two ``alone`` rows run the
same loop with ``send=False`` (build, validate, encode; no queue, no uploader):
what the call itself costs, so the rest of the caller's figures is the
uploader's. ``floor`` is the least code that could do the job (build the dict,
append to a deque; a thread encodes a batch and POSTs it), to show how close to
the limit each SDK is.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
WRITE_KEY = "bench-key"
BASELINE = "segment"

# name -> (label, extra environment)
SDKS: Dict[str, Tuple[str, Dict[str, str]]] = {
    "analytics_sdk": ("analytics_sdk (default install)", {"ANALYTICS_SDK_JSON": "stdlib"}),
    "analytics_sdk_speed": ("analytics_sdk [speed] (orjson)", {}),
    # The caller's path alone, no uploader (send=False): the floor our own caller
    # figures stand on, measured in the same run.
    "analytics_sdk_alone": ("analytics_sdk caller alone (send=False)", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_NO_SEND": "1"}),
    "analytics_sdk_speed_alone": ("analytics_sdk [speed] alone (send=False)", {"BENCH_NO_SEND": "1"}),
    "analytics_sdk_no_handoff": ("analytics_sdk, no GIL hand-off", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_NO_HANDOFF": "1"}),
    "analytics_sdk_two": ("analytics_sdk, 2 destinations", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_DESTINATIONS": "2"}),
    "analytics_sdk_enrich": ("analytics_sdk + enrichment plugin", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_PLUGIN": "1"}),
    "analytics_sdk_spool": ("analytics_sdk + spool", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_SPOOL": "async"}),
    "analytics_sdk_spool_sync": ("analytics_sdk + spool_sync", {"ANALYTICS_SDK_JSON": "stdlib", "BENCH_SPOOL": "sync"}),
    "segment": ("segment-analytics-python", {}),
    "rudder": ("rudder-sdk-python", {}),
    "posthog": ("posthog", {}),
    "floor": ("floor (deque + json.dumps + POST)", {}),
}


def event_properties(i: int) -> Dict[str, Any]:
    """A realistic event: ~6 properties incl. a nested dict, a list and a float."""
    return {
        "order_id": f"order-{i}",
        "revenue": 42.5 + i % 7,
        "currency": "EUR",
        "products": [{"sku": "tee-blue", "qty": 1}, {"sku": "mug", "qty": 2}],
        "coupon": None,
        "checkout": {"step": 3, "method": "card", "new_customer": i % 3 == 0},
    }


# -- the sink (its own process) ---------------------------------------------------------


# messageId (Segment-style SDKs) or uuid (PostHog), at any depth; the workload
# puts neither key inside properties.
_ID_PATTERN = re.compile(rb'"(?:messageId|uuid)": ?"([^"]+)"')


class _SinkState:
    def __init__(self, stall: bool) -> None:
        self.stall = stall
        self.ids: set = set()
        self.duplicates = 0
        self.lock = threading.Lock()


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate small
    # writes meet Nagle + delayed ACK and stall each request by ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, payload: Dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        state = self.server.state
        with state.lock:
            self._reply({"unique": len(state.ids), "duplicates": state.duplicates})

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/reset"):
            with state.lock:
                state.ids.clear()
                state.duplicates = 0
            self._reply({"ok": True})
            return
        if state.stall:
            time.sleep(3600)
            return
        if self.headers.get("Content-Encoding", "") == "gzip":
            raw = gzip.decompress(raw)
        # A regex, not json.loads: the sink must be much faster than any SDK.
        ids = _ID_PATTERN.findall(raw)
        where = self.path  # a second destination posts to its own path: ids count once per path
        with state.lock:
            for mid in ids:
                mid = (where, mid)
                if mid in state.ids:
                    state.duplicates += 1
                else:
                    state.ids.add(mid)
        self._reply({"status": 1})


def run_sink(stall: bool) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    server.daemon_threads = True
    server.state = _SinkState(stall)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Sink:
    """A sink process; ``url`` to send to, ``count()`` to read back."""

    def __init__(self, stall: bool = False) -> None:
        args = [sys.executable, __file__, "--sink"] + (["--stall"] if stall else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self.proc.stdout.readline().strip()}"

    def _call(self, method: str, path: str) -> Dict[str, Any]:
        import urllib.request

        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def count(self) -> Dict[str, Any]:
        return self._call("GET", "/count")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# -- SDK adapters (run inside the worker process) ----------------------------------------


def make_sdk(name: str, host: str, queue_size: Optional[int]) -> Tuple[Callable[[str, str, Dict[str, Any]], Any], Callable[[], Any]]:
    """Returns (track(user_id, event, properties), flush()); ``queue_size`` None: the SDK's default."""
    sized: Dict[str, Any] = {} if queue_size is None else {"max_queue_size": queue_size}
    if name.startswith("analytics_sdk"):
        import tempfile

        import analytics_sdk

        if os.environ.get("BENCH_NO_HANDOFF"):  # measures what the time.sleep(0) hand-offs buy
            import types

            from analytics_sdk.delivery import clock

            # hand_over_gil() looks time.sleep up at each hand-off (gevent/eventlet patch it): swap its time module.
            clock.time = types.SimpleNamespace(sleep=lambda seconds: None, monotonic=clock.time.monotonic)  # type: ignore[assignment]
        spool = os.environ.get("BENCH_SPOOL")
        options: Dict[str, Any] = {}
        if spool:  # a fresh spool file per run, removed with the temporary directory
            options = {"spool_path": os.path.join(tempfile.mkdtemp(), "spool.db"), "spool_sync": spool == "sync"}
        if os.environ.get("BENCH_DESTINATIONS") == "2":
            options["destinations"] = [
                analytics_sdk.Segment(WRITE_KEY, host=host),
                analytics_sdk.Segment(WRITE_KEY, host=host + "/second"),
            ]
        if os.environ.get("BENCH_NO_SEND"):
            options["send"] = False
        client = analytics_sdk.Client(WRITE_KEY, host=host, flush_timeout=120, **sized, **options)
        if os.environ.get("BENCH_PLUGIN"):

            class Enrich(analytics_sdk.EventPlugin):
                def execute(self, event: Dict[str, Any]) -> Dict[str, Any]:
                    event["context"]["app"] = {"name": "bench", "version": "1.0"}
                    return event

            client.add(Enrich())
        return client.track, lambda: client.flush(timeout=300)
    if name == "segment":
        from segment.analytics import Client

        client = Client(WRITE_KEY, host=host, **sized)
        return client.track, client.flush
    if name == "rudder":
        from rudderstack.analytics.client import Client

        client = Client(WRITE_KEY, host=host, **sized)
        return client.track, client.flush
    if name == "posthog":
        from posthog import Posthog

        client = Posthog(WRITE_KEY, host=host, **sized, flush_at=100, flush_interval=0.5, gzip=False)

        def track(user_id: str, event: str, properties: Dict[str, Any]) -> Any:
            return client.capture(event, distinct_id=user_id, properties=properties)

        return track, client.flush
    if name == "floor":
        return _floor_sdk(host)
    raise SystemExit(f"unknown sdk {name}")


def _floor_sdk(host: str) -> Tuple[Callable[..., Any], Callable[[], Any]]:
    """The least code that could do the job: no validation, no retries, no limits."""
    import collections
    import uuid
    from datetime import datetime, timezone

    import requests

    queue: collections.deque = collections.deque()
    session = requests.Session()
    pending = [0]
    done = threading.Condition()

    def track(user_id: str, event: str, properties: Dict[str, Any]) -> None:
        queue.append(
            {
                "type": "track",
                "messageId": str(uuid.uuid4()),
                "timestamp": datetime.now(timezone.utc).isoformat(),
                "userId": user_id,
                "event": event,
                "properties": properties,
            }
        )
        pending[0] += 1

    def upload() -> None:
        while True:
            batch = []
            while queue and len(batch) < 100:
                batch.append(queue.popleft())
            if not batch:
                time.sleep(0.005)
                continue
            session.post(host + "/v1/batch", data=json.dumps({"batch": batch}), auth=(WRITE_KEY, ""), timeout=15)
            with done:
                pending[0] -= len(batch)
                done.notify_all()

    threading.Thread(target=upload, daemon=True).start()

    def flush() -> None:
        with done:
            done.wait_for(lambda: pending[0] <= 0)

    return track, flush


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def speed_probe_ms() -> float:
    """A fixed piece of pure Python, timed: how fast the machine runs at the moment.

    On this kind of shared 2-core VM the same loop takes from ~34 to ~66 ms from one
    half-second to the next (no steal time shown), which moves every figure."""
    started = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i
    return (time.perf_counter() - started) * 1000


def worker(name: str, phase: str, host: str, events: int) -> Dict[str, Any]:
    probe_before = speed_probe_ms() if phase == "e2e" else 0.0
    track, flush = make_sdk(name, host, None if phase == "defaults" else events + 1000)
    users = [f"user-{i % 1000}" for i in range(1000)]
    if phase == "defaults":
        props = [event_properties(i) for i in range(events)]
        refused = 0
        for i in range(events):
            result = track(users[i % 1000], "Order Completed", props[i])
            accepted = result[0] if isinstance(result, tuple) else result is not None  # PostHog: a uuid or None
            refused += not accepted
        flush()
        return {"refused": refused}
    if phase == "memory":
        # Each call gets a fresh dict, as in a request handler; what the SDK keeps
        # (a copy, a reference, or encoded bytes) is what RSS grows by.
        track(users[0], "Warm Up", event_properties(0))  # start the uploader; it then stalls
        time.sleep(0.3)
        gc.collect()
        before = rss_bytes()
        for i in range(events):
            track(users[i % 1000], "Order Completed", event_properties(i))
        gc.collect()
        return {"rss_per_event": (rss_bytes() - before) / events}
    props = [event_properties(i) for i in range(events)]  # built up front: not part of any SDK's cost
    timings = [0] * events
    clock = time.perf_counter_ns
    started = clock()
    for i in range(events):
        t0 = clock()
        track(users[i % 1000], "Order Completed", props[i])
        timings[i] = clock() - t0
    last_call = clock()
    flush()
    done = clock()
    elapsed = (done - started) / 1e9
    timings.sort()
    probe = (probe_before + speed_probe_ms()) / 2

    def pct(p: float) -> float:
        return timings[min(events - 1, int(p * events))] / 1000

    return {
        "caller_us": sum(timings) / events / 1000,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "max_us": timings[-1] / 1000,
        "flush_returned_s": elapsed,
        # How long delivery ran on after the last call: near 0 means the uploader kept up
        # and events/s is bounded by the caller's own cost.
        "drain_ms": (done - last_call) / 1e6,
        "probe_ms": probe,
    }


# -- the driver -----------------------------------------------------------------------------


def run_worker(name: str, phase: str, sink: Sink, events: int) -> Optional[Dict[str, Any]]:
    env = dict(os.environ, **SDKS[name][1])
    if phase != "memory":
        sink.reset()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, "--phase", phase, "--host", sink.url, "--events", str(events)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(f"  {name} {phase}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    result = json.loads(lines[-1])
    if phase == "e2e" and "BENCH_NO_SEND" in env:
        result["events_per_s"] = events / result["flush_returned_s"]  # calls/s: nothing is sent
    elif phase == "e2e":
        expected = events * int(env.get("BENCH_DESTINATIONS", "1"))  # each destination gets every event
        deadline = time.monotonic() + 60
        counts = sink.count()
        while counts["unique"] < expected and time.monotonic() < deadline:
            time.sleep(0.05)
            counts = sink.count()
        result["stored"] = counts["unique"]
        result["expected"] = expected
        result["duplicates"] = counts["duplicates"]
        result["events_per_s"] = events / result["flush_returned_s"] if counts["unique"] == expected else 0.0
    elif phase == "defaults":
        time.sleep(0.5)  # what flush() sent is stored by now
        counts = sink.count()
        accepted = (events - result["refused"]) * int(env.get("BENCH_DESTINATIONS", "1"))
        # Every accepted event stored once (with two destinations a refusal may be partial).
        result["defaults_ok"] = not counts["duplicates"] and (counts["unique"] == accepted or "BENCH_DESTINATIONS" in env)
    return result


def available(name: str) -> bool:
    module = {"segment": "segment.analytics", "rudder": "rudderstack.analytics", "posthog": "posthog"}.get(name)
    if module is None:
        return True
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


FIGURES = [
    ("caller_us", "caller us/call", "lower"),
    ("p50_us", "p50 us", "lower"),
    ("p99_us", "p99 us", "lower"),
    ("p999_us", "p99.9 us", "lower"),
    ("max_us", "max us", "lower"),
    ("events_per_s", "events/s", "higher"),
    ("drain_ms", "drain ms", "lower"),
    ("rss_per_event", "RSS B/event", "lower"),
    ("refused", "refused", "lower"),
    ("probe_ms", "probe ms", "lower"),  # the machine's speed around the run (speed_probe_ms)
]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    default_sdks = ",".join(SDKS)
    parser.add_argument("--sdks", default=default_sdks, help="comma-separated subset of: " + ", ".join(SDKS))
    parser.add_argument("--json", dest="json_out", help="also write the medians to this file")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stall", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.sink:
        run_sink(args.stall)
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.phase, args.host, args.events)), flush=True)
        os._exit(0)  # skip every SDK's exit-time flush: the sink may be stalled

    names = [n for n in args.sdks.split(",") if n in SDKS and available(n)]
    skipped = [n for n in args.sdks.split(",") if n not in names]
    fast, stalled = Sink(), Sink(stall=True)
    results: Dict[str, Dict[str, List[float]]] = {n: {} for n in names}
    exact: Dict[str, Optional[bool]] = {n: True for n in names}
    try:
        for run in range(args.runs):
            for name in names:  # interleaved, so drift in machine load hits every SDK alike
                for phase, sink in (("e2e", fast), ("memory", stalled), ("defaults", fast)):
                    if phase == "defaults" and name == "floor":
                        continue  # no queue limit at all
                    if phase != "e2e" and ("BENCH_NO_SEND" in SDKS[name][1] or "BENCH_SKETCH" in SDKS[name][1]):
                        continue  # nothing is queued
                    result = run_worker(name, phase, sink, args.events)
                    if result is None:
                        exact[name] = False
                        continue
                    if phase == "e2e" and result.get("stored") is None:
                        exact[name] = None  # nothing sent: not applicable
                    elif phase == "e2e" and (result["stored"] != result["expected"] or result["duplicates"]):
                        exact[name] = False
                    if phase == "defaults" and not result.pop("defaults_ok"):
                        exact[name] = False
                    for key, value in result.items():
                        results[name].setdefault(key, []).append(value)
                print(f"run {run + 1}/{args.runs}: {name} done", file=sys.stderr, flush=True)
    finally:
        fast.stop()
        stalled.stop()

    medians = {n: {k: statistics.median(v) for k, v in figures.items()} for n, figures in results.items()}
    print_table(medians, exact, args.events, args.runs, skipped)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({"events": args.events, "runs": args.runs, "medians": medians, "exactly_once": exact}, out, indent=2)
    return 0


def print_table(medians: Dict[str, Dict[str, float]], exact: Dict[str, Optional[bool]], events: int, runs: int, skipped: List[str]) -> None:
    base = medians.get(BASELINE, {})
    label_width = max(len(SDKS[n][0]) for n in medians) + 2
    print(f"\n{events:,} track() calls per run, median of {runs} run(s), ratios vs {SDKS[BASELINE][0]}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    header = "".join(f"{title:>16}" for _, title, _ in FIGURES)
    print(f"{'SDK':<{label_width}}{header}{'exactly once':>14}")
    for name, figures in medians.items():
        cells = []
        for key, _, _ in FIGURES:
            value = figures.get(key)
            cells.append(f"{'-':>16}" if value is None else f"{value:>16,.1f}")
        print(f"{SDKS[name][0]:<{label_width}}{''.join(cells)}{'n/a' if exact[name] is None else 'yes' if exact[name] else 'NO':>14}")
        if base and name != BASELINE:
            ratios = []
            for key, _, _ in FIGURES:
                value, reference = figures.get(key), base.get(key)
                ratios.append(f"{'-':>16}" if not value or not reference else f"{value / reference:>15.2f}x")
            print(f"{'  ratio':<{label_width}}{''.join(ratios)}")
    if skipped:
        print(f"\nnot run (not installed): {', '.join(skipped)}")


if __name__ == "__main__":
    raise SystemExit(main())
