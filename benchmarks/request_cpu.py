"""CPU per request on the uploader thread (``time.thread_time()``), which is GIL time
the application's threads wait for: our transport against a fast loopback sink.

    python benchmarks/request_cpu.py [--requests 2000] [--events 100]

Prints the median and mean microseconds of thread CPU per request, for the
transport in use and for ``http.client`` and ``requests`` doing the same POST.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, List

HERE = os.path.dirname(os.path.abspath(__file__))


def body_of(events: int) -> bytes:
    from analytics_sdk.delivery.batching import build_body
    from analytics_sdk.messages import build_track, utc_now_iso
    from analytics_sdk.json_codec import encode

    items = [encode(build_track(f"user-{i}", "Order Completed", {"revenue": 42.5, "i": i})) for i in range(events)]
    return build_body(items, utc_now_iso())


def measure(send: Callable[[bytes], int], body: bytes, requests: int) -> List[float]:
    costs = []
    for _ in range(requests):
        before = time.thread_time()
        status = send(body)
        costs.append((time.thread_time() - before) * 1e6)
        assert status == 200, status
    return costs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    sink = subprocess.Popen([sys.executable, os.path.join(HERE, "compare.py"), "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        url = f"http://127.0.0.1:{port}/v1/batch"
        body = body_of(args.events)
        headers = {"Content-Type": "application/json", "Authorization": "Basic eDo=", "User-Agent": "bench"}

        from analytics_sdk.delivery.transport import HttpTransport

        ours = HttpTransport(url, headers)
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def stdlib(data: bytes) -> int:
            conn.request("POST", "/v1/batch", body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status

        import requests

        session = requests.Session()
        session.trust_env = False

        def via_requests(data: bytes) -> int:
            return session.post(url, data=data, headers=headers, timeout=15).status_code

        candidates = {
            "analytics_sdk HttpTransport": lambda data: ours.send(data).status,
            "http.client": stdlib,
            "requests.Session": via_requests,
        }
        results = {name: [] for name in candidates}
        for _ in range(3):  # interleaved rounds: machine drift hits every candidate alike
            for name, send in candidates.items():
                results[name] += measure(send, body, args.requests // 3)
        print(f"{args.events} events, {len(body):,} bytes per request; thread CPU per request (us)")
        for name, costs in results.items():
            print(f"  {name:<30} median {statistics.median(costs):8.1f}   mean {statistics.fmean(costs):8.1f}")
        print(json.dumps({name: statistics.median(costs) for name, costs in results.items()}))
    finally:
        sink.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
