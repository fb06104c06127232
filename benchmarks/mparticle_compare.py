"""mParticle benchmark: the caller's cost of ``track`` with the mParticle destination,
and ``upload_events`` of ``analytics_sdk.mparticle`` against the reference
``mparticle`` package, side by side against one loopback sink (202 to everything)::

    make bench                                   # runs this too
    python benchmarks/mparticle_compare.py       # --events 20000 --uploads 500 --runs 3

Each figure is the median of ``--runs`` runs, each in a fresh process; the sink
runs in a process of its own. Rows:

* track -> Segment / mParticle: mean us per ``track()`` in the caller's thread
  while the uploader runs, and events/s until ``flush()`` returned;
* upload_events (reference / drop-in): ms per synchronous ``upload_events(batch)``
  of a 5-event batch (each waits for the 202), and uploads/s;
* upload_events (drop-in, background): us per call in the caller's thread, and
  batches/s until ``flush()`` returned (uploads are sent 100 to a bulk request).

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = {
    "track_segment": "track -> Segment destination",
    "track_mparticle": "track -> mParticle destination",
    "upload_reference": "upload_events, mparticle 0.16 (reference)",
    "upload_dropin": "upload_events, analytics_sdk.mparticle",
    "upload_background": "upload_events, analytics_sdk.mparticle background",
}


def properties(i: int) -> Dict[str, Any]:
    return {"order_id": f"order-{i}", "revenue": 42.5 + i % 7, "currency": "EUR", "coupon": None,
            "checkout": {"step": 3, "method": "card"}, "tags": ["a", "b"]}


# -- the sink ------------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 200 if self.path.startswith("/v1/") else 202
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def run_sink() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# -- one measured run ------------------------------------------------------------------------


def _track(url: str, kind: str, n: int) -> Dict[str, float]:
    from analytics_sdk import Client
    from analytics_sdk.wire import MParticle, Segment

    destination = MParticle("key", "secret", "production", host=url) if kind == "mparticle" else Segment("wk", host=url)
    client = Client(destinations=[destination], max_queue_size=n + 1)  # measure the call, not refusals
    context = {"ip": "203.0.113.9", "app": {"name": "shop", "version": "1.0"}}
    start = time.perf_counter()
    spent = 0.0
    for i in range(n):
        t = time.perf_counter()
        client.track(f"user-{i % 50}", "Order Paid", properties(i), context=context)
        spent += time.perf_counter() - t
    client.flush()
    total = time.perf_counter() - start
    assert client.stats()["delivered"] == n, client.stats()
    client.shutdown()
    return {"us_per_call": spent / n * 1e6, "per_second": n / total}


def _batch(mp: Any, i: int) -> Any:
    batch = mp.Batch(environment="production")
    batch.user_identities = mp.UserIdentities(customerid=f"user-{i % 50}", email="a@example.com")
    batch.events = [mp.AppEvent("Order Paid", "transaction", custom_attributes={"n": j, "currency": "EUR"})
                    for j in range(5)]
    return batch


def _upload(url: str, kind: str, n: int) -> Dict[str, float]:
    if kind == "reference":
        import mparticle as mp
    else:
        import analytics_sdk.mparticle as mp  # type: ignore[no-redef]
    config = mp.Configuration()
    config.api_key, config.api_secret, config.host = "key", "secret", url + "/v2"
    if kind == "background":
        config.background = True
    api = mp.EventsApi(config)
    batches = [_batch(mp, i) for i in range(n)]
    start = time.perf_counter()
    spent = 0.0
    for batch in batches:
        t = time.perf_counter()
        api.upload_events(batch)
        spent += time.perf_counter() - t
    if kind == "background":
        assert api.flush(60) and api.stats()["delivered"] == n, api.stats()
    total = time.perf_counter() - start
    unit = 1e6 if kind == "background" else 1e3
    return {"per_call": spent / n * unit, "per_second": n / total}


def run_worker(scenario: str, url: str, events: int, uploads: int) -> None:
    kind = scenario.split("_", 1)[1]
    result = _track(url, kind, events) if scenario.startswith("track") else _upload(url, kind, uploads)
    print(json.dumps(result), flush=True)


# -- the driver ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink()
        return 0
    if args.worker:
        run_worker(args.worker, args.url, args.events, args.uploads)
        return 0
    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"  # type: ignore[union-attr]
        results: Dict[str, List[Dict[str, float]]] = {}
        for _ in range(args.runs):
            for scenario in SCENARIOS:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", scenario, "--url", url, "--events", str(args.events),
                     "--uploads", str(args.uploads)], capture_output=True, text=True, check=False,
                )
                if out.returncode != 0:
                    print(f"{scenario} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    continue
                results.setdefault(scenario, []).append(json.loads(out.stdout))
    finally:
        sink.terminate()
        sink.wait()
    print(f"median of {args.runs} runs; {args.events} track calls, {args.uploads} uploads of 5-event batches")
    print(f"{'':48} {'caller cost':>16} {'throughput':>14}")
    for scenario, label in SCENARIOS.items():
        runs = results.get(scenario)
        if not runs:
            print(f"{label:48} {'(not run)':>16}")
            continue
        if scenario.startswith("track"):
            cost = f"{statistics.median(r['us_per_call'] for r in runs):.1f} us/call"
            rate = f"{statistics.median(r['per_second'] for r in runs):,.0f} ev/s"
        else:
            unit = "us/call" if scenario.endswith("background") else "ms/call"
            cost = f"{statistics.median(r['per_call'] for r in runs):.2f} {unit}"
            rate = f"{statistics.median(r['per_second'] for r in runs):,.0f} up/s"
        print(f"{label:48} {cost:>16} {rate:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
