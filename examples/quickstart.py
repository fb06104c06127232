"""Quickstart: the module-level API, as in segment-analytics-python.

    ANALYTICS_HOST=http://127.0.0.1:8088 python examples/quickstart.py
"""

import os

import analytics_sdk

analytics_sdk.write_key = os.environ.get("ANALYTICS_WRITE_KEY", "YOUR_WRITE_KEY")
analytics_sdk.host = os.environ.get("ANALYTICS_HOST")  # None: https://api.segment.io
analytics_sdk.on_error = lambda error, messages: print(f"not delivered: {error}")

analytics_sdk.identify("user-1", {"email": "ada@example.com", "plan": "pro"})
queued, message = analytics_sdk.track("user-1", "Order Completed", {"revenue": 42, "currency": "EUR"})
print("queued" if queued else "refused", message["messageId"])

analytics_sdk.flush()  # optional in a script: exit delivers too
print(analytics_sdk.stats())
