"""Quickstart: the module-level API, as in segment-analytics-python.

    analytics-sdk serve &              # the local collector, http://127.0.0.1:8088
    python examples/quickstart.py

It sends to the local collector unless ANALYTICS_HOST names another one (with
ANALYTICS_WRITE_KEY, your source's write key).
"""

import os

import analytics_sdk

analytics_sdk.write_key = os.environ.get("ANALYTICS_WRITE_KEY", "dev")
analytics_sdk.host = os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088")  # Segment: https://api.segment.io
analytics_sdk.on_error = lambda error, messages: print(f"not delivered: {error}")

analytics_sdk.identify("user-1", {"email": "ada@example.com", "plan": "pro"})
queued, message = analytics_sdk.track("user-1", "Order Completed", {"revenue": 42, "currency": "EUR"})
print("queued" if queued else "refused", message["messageId"])

analytics_sdk.flush()  # optional in a script: exit delivers too
print(analytics_sdk.stats())
