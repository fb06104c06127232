"""AWS Lambda (or any per-invocation runtime): flush before returning.

The execution environment may be frozen right after the handler returns, so the
background uploader cannot be relied on between invocations: flush() sends what
this invocation tracked, within a deadline.

Configuration comes from the function's environment: ANALYTICS_WRITE_KEY (your
source's write key) and ANALYTICS_HOST (your collector; set it to
https://api.segment.io for Segment). Unset, it sends to the local collector, so
it can be tried on your machine:

    analytics-sdk serve &              # the local collector, http://127.0.0.1:8088
    python examples/lambda_handler.py
"""

import os

import analytics_sdk

analytics_sdk.write_key = os.environ.get("ANALYTICS_WRITE_KEY", "dev")
analytics_sdk.host = os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088")


def handler(event, context=None):
    user = event["user_id"]
    analytics_sdk.track(user, "Invoice Paid", {"amount": event["amount"]})
    delivered = analytics_sdk.flush(timeout=2)
    return {"statusCode": 200, "analytics_delivered": delivered}


if __name__ == "__main__":
    for amount in (10, 20, 30):
        print(handler({"user_id": "u1", "amount": amount}))
