"""A script or cron job: a Client of its own, shut down at the end with a deadline.

    ANALYTICS_HOST=http://127.0.0.1:8088 python examples/cron_job.py
"""

import os
import sys

from analytics_sdk import Client


def main() -> int:
    client = Client(
        os.environ.get("ANALYTICS_WRITE_KEY", "YOUR_WRITE_KEY"),
        host=os.environ.get("ANALYTICS_HOST"),
    )
    for day, signups in enumerate([12, 7, 31]):
        client.track("reporting-bot", "Daily Signups Computed", {"day": day, "signups": signups})
    delivered = client.shutdown(timeout=10)  # waits at most 10 s, never forever
    stats = client.stats()
    print(f"delivered={stats['delivered']} dropped={stats['dropped_total']}")
    return 0 if delivered and not stats["dropped_total"] else 1


if __name__ == "__main__":
    sys.exit(main())
