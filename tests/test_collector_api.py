"""The collector answers like Segment's API (issue 13, part 2), each case against a real server."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from analytics_sdk.devserver import Collector

AUTH = {"Authorization": "Basic " + base64.b64encode(b"k:").decode()}


def post(url, raw, headers=None):
    return requests.post(url + "/v1/batch", data=raw, headers={**AUTH, **(headers or {})}, timeout=5)


def track(message_id, **fields):
    return {"type": "track", "userId": "u", "event": "E", "messageId": message_id, **fields}


def test_segment_client_empty_event_name_loses_only_that_message(collector):
    segment = pytest.importorskip("segment.analytics.client", reason="segment-analytics-python is in the [test] extra")
    client = segment.Client("k", host=collector.url, upload_size=10)
    client.track("u1", "", message_id="empty")
    client.track("u1", "Good", message_id="good")
    client.flush()
    client.join()
    assert [e["messageId"] for e in collector.events()] == ["good"]
    assert [r["message"]["messageId"] for r in collector.rejections()] == ["empty"]


def test_non_ascii_message_is_measured_as_utf8_bytes(collector):
    # 16.5 KB as UTF-8; 33 KB if re-encoded with \\u escapes.
    body = {"batch": [track("cjk", properties={"text": "東" * 5500}), track("next")]}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert post(collector.url, raw).status_code == 200
    assert [e["messageId"] for e in collector.events()] == ["cjk", "next"]


def test_message_over_32kb_as_utf8_refuses_the_request(collector):
    raw = json.dumps({"batch": [track("big", properties={"text": "東" * 11_000})]}, ensure_ascii=False).encode()
    assert post(collector.url, raw).status_code == 413
    assert collector.summary()["stored"] == 0


def test_batch_context_and_integrations_apply_to_each_message(collector):
    body = {
        "batch": [track("plain"), track("own", context={"ip": "own"}, integrations={"Mixpanel": True})],
        "context": {"ip": "batch", "locale": "fr-FR"},
        "integrations": {"All": False},
    }
    assert post(collector.url, json.dumps(body)).status_code == 200
    stored = {e["messageId"]: e for e in collector.events()}
    assert stored["plain"]["context"] == {"ip": "batch", "locale": "fr-FR"}
    assert stored["plain"]["integrations"] == {"All": False}
    assert stored["own"]["context"] == {"ip": "own", "locale": "fr-FR"}  # the message's own value wins
    assert stored["own"]["integrations"] == {"All": False, "Mixpanel": True}


@pytest.mark.parametrize("compress", [False, True])
def test_chunked_bodies_are_read(collector, compress):
    raw = json.dumps({"batch": [track(f"c{i}") for i in range(50)]}).encode()
    if compress:
        raw = gzip.compress(raw)
    pieces = (raw[i : i + 100] for i in range(0, len(raw), 100))  # a generator: requests sends it chunked
    headers = {"Content-Encoding": "gzip"} if compress else {}
    response = post(collector.url, pieces, headers)
    assert response.status_code == 200, response.text
    assert collector.summary()["stored"] == 50


def test_chunked_body_over_the_limit_is_413():
    with Collector() as server:
        pieces = (b"x" * 65536 for _ in range(10))  # 640 KB, no Content-Length
        assert post(server.url, pieces).status_code == 413


@pytest.mark.parametrize(
    "query, names",
    [
        ("since=abc", "since"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("after=abc", "after"),
        ("after=-1", "after"),
        ("until=tomorrow", "until"),
        ("order=sideways", "order"),
        ("colour=red", "colour"),
    ],
)
def test_bad_query_values_get_a_json_400(collector, query, names):
    response = requests.get(f"{collector.url}/v1/events?{query}", timeout=5)
    assert response.status_code == 400
    assert names in response.json()["error"]


def test_since_takes_the_cli_forms(collector):
    post(collector.url, json.dumps({"batch": [track("now")]}))
    for since in ("10m", "1h", "2020-01-01T00:00:00Z", str(time.time() - 60)):
        events = requests.get(collector.url + "/v1/events", params={"since": since}, timeout=5).json()["events"]
        assert [e["messageId"] for e in events] == ["now"], since
    assert requests.get(collector.url + "/v1/events", params={"since": "2099-01-01"}, timeout=5).json()["events"] == []


def test_received_time_is_readable(collector):
    post(collector.url, json.dumps({"batch": [track("t")]}))
    received = collector.events()[0]["_received"]
    assert received["at_iso"].endswith("Z") and received["at_iso"][:4] == time.strftime("%Y", time.gmtime())


def _serve(*args):
    return subprocess.run(
        [sys.executable, "-m", "analytics_sdk", "serve", *args], capture_output=True, text=True, timeout=30
    )


def test_serve_on_a_port_in_use_prints_one_line_and_exits_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _serve("--port", str(taken.getsockname()[1]), "--db", str(tmp_path / "e.db"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("analytics-sdk: error: cannot listen"), result.stderr


def test_serve_with_a_database_that_cannot_be_opened_exits_2(tmp_path):
    result = _serve("--port", "0", "--db", str(tmp_path / "no" / "such" / "dir" / "e.db"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open the database" in lines[0], result.stderr


def test_a_database_from_the_previous_version_opens_and_keeps_its_events(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        """CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL,
           type TEXT NOT NULL, user_id TEXT, anonymous_id TEXT, event TEXT, write_key TEXT,
           received_at REAL NOT NULL, times_received INTEGER NOT NULL DEFAULT 1, raw TEXT NOT NULL)"""
    )
    db.execute("INSERT INTO events (message_id, type, user_id, received_at, raw) VALUES ('old', 'track', 'u', 1.0, ?)",
               (json.dumps(track("old")),))
    db.commit()
    db.close()
    with Collector(db=str(path)) as server:
        assert post(server.url, json.dumps({"batch": [track("new")]})).status_code == 200
        assert [e["messageId"] for e in server.events()] == ["old", "new"]
        assert server.events()[0]["_received"]["format"] == "segment"
