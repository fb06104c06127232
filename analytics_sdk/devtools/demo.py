"""``make demo`` / ``python -m analytics_sdk.demo``: a short app session end to end.

Starts the embedded local collector on 127.0.0.1 (no account, no network),
points the module-level API at it, plays a small shop session (identify, track
from several worker threads, page, screen, group, alias), flushes, and prints
what the collector stored, then how to go on: the commands that start the
collector and open the viewer for your own app.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import List

import analytics_sdk
from analytics_sdk import Amplitude, Client, MParticle, Segment

from .collector import Collector

WORKERS = 4
ORDERS_PER_WORKER = 25


def _checkout_worker(worker: int, errors: List[Exception]) -> None:
    try:
        for n in range(ORDERS_PER_WORKER):
            analytics_sdk.track(
                f"user-{worker}",
                "Order Completed",
                {
                    "order_id": f"o-{worker}-{n}",
                    "revenue": Decimal("19.99") * (n % 3 + 1),
                    "currency": "EUR",
                    "products": [{"sku": "tee-blue", "qty": n % 3 + 1}],
                    "coupon": None,
                    "placed_at": datetime.now(timezone.utc),
                },
            )
    except Exception as exc:  # surfaced by the main thread
        errors.append(exc)


def run() -> int:
    with Collector(write_key="demo-key") as collector:
        analytics_sdk.write_key = "demo-key"
        analytics_sdk.host = collector.url
        analytics_sdk.on_error = lambda error, messages: print(f"on_error: {error} ({len(messages)} messages)")

        analytics_sdk.identify("user-0", {"email": "ada@example.com", "plan": "pro"})
        analytics_sdk.page("user-0", "Shop", "Product: Blue Tee", {"url": "https://shop.example/tee"})
        analytics_sdk.screen("user-0", "App", "Cart")
        analytics_sdk.group("user-0", "company-42", {"name": "Example Ltd", "employees": 12})
        analytics_sdk.alias("anonymous-7f3a", "user-0")

        errors: List[Exception] = []
        workers = [threading.Thread(target=_checkout_worker, args=(w, errors)) for w in range(WORKERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]

        delivered_in_time = analytics_sdk.flush(timeout=10)
        stats = analytics_sdk.stats()
        summary = collector.summary()
        sample = collector.events(type="track", limit=1)[0]
        sample.pop("_received")

        print(f"Local collector at {collector.url}")
        print(f"Stored {summary['stored']} messages ({summary['duplicates']} duplicates):")
        for kind, count in sorted(summary["by_type"].items()):
            print(f"  {kind:<9} {count}")
        print("One stored track event, as the API receives it:")
        print(json.dumps(sample, indent=2))
        print(
            "Delivery counters: "
            f"enqueued={stats['enqueued']} delivered={stats['delivered']} "
            f"retried_requests={stats['retried_requests']} dropped={stats['dropped_total']}"
        )
        expected = 5 + WORKERS * ORDERS_PER_WORKER
        ok = delivered_in_time and summary["stored"] == expected and stats["dropped_total"] == 0
        print("OK: every event arrived exactly once." if ok else "PROBLEM: see the counters above.")
        analytics_sdk.shutdown()
        ok = _three_destinations(collector) and ok
    print(next_steps())
    return 0 if ok else 1


def _command() -> str:
    """How this environment runs the CLI: its ``analytics-sdk`` script, relative to here when it is below."""
    script = Path(sys.executable).parent / "analytics-sdk"
    if not script.exists():
        return f"{sys.executable} -m analytics_sdk"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def next_steps(port: int = 8088) -> str:
    """What to do after the demo: the collector on a fixed port, the viewer, your own app pointed at it."""
    cli = _command()
    url = f"http://127.0.0.1:{port}"
    return "\n".join([
        "",
        "Next: watch your own app's events.",
        f"  1. Start the collector:  {cli} serve --port {port} --db events.db",
        f"  2. Open the viewer:      {url}/   (a browser; or read them: {cli} events)",
        f"  3. Point the SDK at it:  analytics_sdk.host = \"{url}\"   (any write key will do)",
    ])


def _three_destinations(collector: Collector) -> bool:
    """The same calls to Segment, Amplitude and mParticle at once: the collector speaks all three."""
    print("\nThe same calls to three destinations at once (Segment, Amplitude, mParticle formats):")
    client = Client(
        destinations=[
            Segment("demo-key", host=collector.url),
            Amplitude("demo-key", server_url=collector.url + "/2/httpapi"),
            MParticle("demo-key", "demo-secret", environment="development", host=collector.url),
        ],
        on_error=lambda error, messages: print(f"  on_error ({getattr(error, 'destination', None)}): {error}"),
    )
    client.identify("user-9", {"email": "grace@example.com", "firstName": "Grace"})
    client.track("user-9", "Order Completed", {"order_id": "o-9", "revenue": 42.0, "currency": "EUR",
                                               "products": [{"product_id": "tee", "price": 21.0, "quantity": 2}]})
    client.screen("user-9", "App", "Receipt")
    delivered = client.flush(timeout=10)
    stats = client.stats()
    client.shutdown()
    for name, counters in stats["destinations"].items():
        stored = len(collector.events(format=name.lower(), limit=1000)) if name != "Segment" else None
        where = f", stored as {stored} {name} event(s)" if stored is not None else ""
        print(f"  {name:<10} delivered={counters['delivered']} dropped={counters['dropped_total']}{where}")
    ok = delivered and stats["dropped_total"] == 0 and stats["delivered"] == 9
    print("OK: each destination got every call in its own format." if ok else "PROBLEM: see above.")
    return ok


if __name__ == "__main__":
    raise SystemExit(run())
