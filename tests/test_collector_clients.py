"""Real clients that nobody here wrote send every call type; the collector stores every
message field for field as the client serialized it.

What "as sent" means is taken from the client itself: each Python client's request
function is wrapped to record the batch it is about to encode (with the client's own
JSON encoder), and analytics-node reports each request body through its
``http_request`` event. A client that is not installed is skipped with a message.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

from analytics_sdk.devserver import Collector

REPO = Path(__file__).resolve().parent.parent
NODE_SCRIPT = Path(__file__).resolve().parent / "node" / "send_every_call.js"
NODE_PREFIX = Path(os.environ.get("ANALYTICS_SDK_NODE_PREFIX", REPO / ".venv" / "node-clients"))

# (module with Client, module with the post() the consumer calls, pip name)
PYTHON_CLIENTS = {
    "segment-analytics-python": ("segment.analytics.client", "segment.analytics.consumer", "segment.analytics.request"),
    "rudder-sdk-python": ("rudderstack.analytics.client", "rudderstack.analytics.consumer", "rudderstack.analytics.request"),
    "events-sdk-python": ("hightouch.htevents.client", "hightouch.htevents.consumer", "hightouch.htevents.request"),
}

WHEN = datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=timezone.utc)
UNICODE = "Grüße, 東京 🎉"


def every_call(client: Any) -> None:
    """All six calls, with the fields users set: nested values, unicode, timestamps, context, integrations."""
    context = {"ip": "203.0.113.9", "locale": "de-DE", "campaign": {"name": UNICODE}}
    integrations = {"All": False, "Mixpanel": True}
    client.identify(user_id="u-1", traits={"email": "ada@example.com", "plan": "pro", "logins": 3, "nick": UNICODE},
                    context=context, timestamp=WHEN, integrations=integrations, message_id="id-identify")
    client.track(user_id="u-1", event="Order Completed",
                 properties={"revenue": 42.5, "currency": "EUR", "items": [{"sku": "a", "qty": 2}], "gift": None,
                             "note": UNICODE},
                 context=context, timestamp=WHEN, integrations=integrations, message_id="id-track")
    client.page(user_id="u-1", category="Docs", name="Intro", properties={"url": "https://example.com/docs"},
                context=context, timestamp=WHEN, message_id="id-page")
    client.screen(user_id="u-1", category="App", name="Cart", properties={"items": 2}, timestamp=WHEN,
                  message_id="id-screen")
    client.group(user_id="u-1", group_id="acme", traits={"name": "Acme", "employees": 12}, timestamp=WHEN,
                 message_id="id-group")
    client.alias(previous_id="anon-7", user_id="u-1", timestamp=WHEN, message_id="id-alias")


def stored_as_sent(collector: Collector, sent: List[Dict[str, Any]]) -> None:
    stored = {e["messageId"]: e for e in collector.events()}
    assert collector.counters()["rejected"] == 0, collector.rejections()
    assert sorted(stored) == sorted(m["messageId"] for m in sent)
    for message in sent:
        got = dict(stored[message["messageId"]])
        got.pop("_received")
        assert got == message, message["type"]
    assert {m["type"] for m in sent} == {"identify", "track", "page", "screen", "group", "alias"}


@pytest.mark.parametrize("name", sorted(PYTHON_CLIENTS))
def test_python_clients_every_call_stored_as_sent(name, monkeypatch):
    client_module, consumer_module, request_module = PYTHON_CLIENTS[name]
    try:
        client_mod = importlib.import_module(client_module)
        consumer_mod = importlib.import_module(consumer_module)
        request_mod = importlib.import_module(request_module)
    except ImportError:
        pytest.skip(f"{name} is not installed (pip install {name}; it is in the [test] extra)")
    sent: List[Dict[str, Any]] = []
    real_post = consumer_mod.post

    def recording_post(*args: Any, **kwargs: Any) -> Any:
        # The batch exactly as the client encodes it, with the client's own encoder.
        sent.extend(json.loads(json.dumps(kwargs["batch"], cls=request_mod.DatetimeSerializer)))
        return real_post(*args, **kwargs)

    monkeypatch.setattr(consumer_mod, "post", recording_post)
    errors: List[Any] = []
    with Collector(write_key="client-key") as collector:
        client = client_mod.Client("client-key", host=collector.url, on_error=lambda e, batch: errors.append(e))
        every_call(client)
        client.flush()
        client.join()
        assert errors == []
        stored_as_sent(collector, sent)
        if name == "rudder-sdk-python":  # RudderStack's client puts identify traits in context.traits
            identify = collector.events(type="identify")[0]
            assert identify["context"]["traits"]["email"] == "ada@example.com"
            assert identify["_received"]["library"].startswith("analytics-python")


def _node_modules() -> Path:
    """@segment/analytics-node, installed once per checkout (.ci/run does it ahead)."""
    installed = NODE_PREFIX / "node_modules" / "@segment" / "analytics-node"
    if installed.is_dir():
        return NODE_PREFIX / "node_modules"
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not found: the @segment/analytics-node check needs Node.js 18+")
    try:
        result = subprocess.run(
            ["npm", "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund", "--loglevel=error",
             "@segment/analytics-node@3"],
            capture_output=True, text=True, timeout=180,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install @segment/analytics-node timed out")
    if result.returncode != 0 or not installed.is_dir():
        pytest.skip(f"cannot install @segment/analytics-node: {result.stderr.strip()[-300:]}")
    return NODE_PREFIX / "node_modules"


def test_segment_analytics_node_every_call_stored_as_sent():
    modules = _node_modules()
    with Collector(write_key="node-key") as collector:
        result = subprocess.run(
            ["node", str(NODE_SCRIPT), collector.url, "node-key", UNICODE, WHEN.isoformat()],
            capture_output=True, text=True, timeout=60, env={**os.environ, "NODE_PATH": str(modules)},
        )
        assert result.returncode == 0, result.stderr
        bodies = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        sent = [message for body in bodies for message in body["batch"]]
        stored_as_sent(collector, sent)
        # Node sends non-ASCII as UTF-8: a 16 KB message of it is under the 32 KB limit, not 3x over.
        big = collector.events(event="Big Unicode")
        assert len(big) == 1 and big[0]["properties"]["text"] == "東" * 5500
