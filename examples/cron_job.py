"""A script or cron job: a Client of its own, shut down at the end with a deadline.

    analytics-sdk serve &              # the local collector, http://127.0.0.1:8088
    python examples/cron_job.py

It sends to the local collector unless ANALYTICS_HOST names another one (with
ANALYTICS_WRITE_KEY, your source's write key).
"""

import os
import sys

from analytics_sdk import Client


def main() -> int:
    client = Client(
        os.environ.get("ANALYTICS_WRITE_KEY", "dev"),
        host=os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088"),
    )
    for day, signups in enumerate([12, 7, 31]):
        client.track("reporting-bot", "Daily Signups Computed", {"day": day, "signups": signups})
    delivered = client.shutdown(timeout=10)  # waits at most 10 s, never forever
    stats = client.stats()
    print(f"delivered={stats['delivered']} dropped={stats['dropped_total']}")
    return 0 if delivered and not stats["dropped_total"] else 1


if __name__ == "__main__":
    sys.exit(main())
