"""A bulk backfill that must not lose events: block instead of dropping when the
queue is full, and check the counters at the end.

    analytics-sdk serve &              # the local collector, http://127.0.0.1:8088
    python examples/backfill.py

It sends to the local collector unless ANALYTICS_HOST names another one (with
ANALYTICS_WRITE_KEY, your source's write key).
"""

import os
import sys
from datetime import datetime, timedelta, timezone

from analytics_sdk import Client


def historical_orders(count: int):
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for n in range(count):
        yield {"user": f"user-{n % 97}", "order_id": f"o-{n}", "total": n % 50 + 0.99, "at": start + timedelta(minutes=n)}


def main() -> int:
    client = Client(
        os.environ.get("ANALYTICS_WRITE_KEY", "dev"),
        host=os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088"),
        max_queue_size=1000,
        queue_full_timeout=60,  # wait for room instead of refusing
        upload_size=250,
    )
    for order in historical_orders(5000):
        client.track(
            order["user"],
            "Order Completed",
            {"order_id": order["order_id"], "total": order["total"]},
            timestamp=order["at"],
            message_id=f"backfill-{order['order_id']}",  # stable ids: a re-run is deduplicated
        )
    client.shutdown(timeout=60)
    stats = client.stats()
    print(f"delivered={stats['delivered']} dropped={stats['dropped']}")
    return 0 if stats["delivered"] == 5000 else 1


if __name__ == "__main__":
    sys.exit(main())
