"""The local collector answers like the real API and stores what it accepts."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys

import pytest
import requests

from analytics_sdk.devserver import Collector, validate_message


def post(url, body, key="k", raw=None, headers=None):
    data = raw if raw is not None else json.dumps(body).encode()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return requests.post(url, data=data, headers={"Authorization": auth, **(headers or {})}, timeout=5)


def msg(**fields):
    return {"type": "track", "userId": "u", "event": "E", "messageId": fields.pop("messageId", "m1"), **fields}


def test_batch_is_stored_and_read_back(collector):
    assert post(collector.url + "/v1/batch", {"batch": [msg(), msg(messageId="m2")]}).status_code == 200
    events = collector.events()
    assert [e["messageId"] for e in events] == ["m1", "m2"]
    over_http = requests.get(collector.url + "/v1/events", params={"event": "E"}, timeout=5).json()["events"]
    assert [e["messageId"] for e in over_http] == ["m1", "m2"]
    assert requests.get(collector.url + "/stats", timeout=5).json()["stored"] == 2


def test_single_message_endpoints(collector):
    for kind, body in [
        ("identify", {"userId": "u", "traits": {}}),
        ("track", {"userId": "u", "event": "E"}),
        ("page", {"userId": "u"}),
        ("screen", {"anonymousId": "a"}),
        ("group", {"userId": "u", "groupId": "g"}),
        ("alias", {"userId": "u", "previousId": "p"}),
    ]:
        body["messageId"] = kind
        assert post(f"{collector.url}/v1/{kind}", body).status_code == 200, kind
    assert collector.summary()["by_type"] == dict.fromkeys(["alias", "group", "identify", "page", "screen", "track"], 1)


def test_gzip_body(collector):
    raw = gzip.compress(json.dumps({"batch": [msg()]}).encode())
    assert post(collector.url + "/v1/batch", None, raw=raw, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert collector.summary()["stored"] == 1


@pytest.mark.parametrize(
    "body, raw, status",
    [
        (None, b"{not json", 400),
        ({"nobatch": []}, None, 400),
        ({"batch": [msg(properties={"x": "y" * 40_000})]}, None, 413),
        ({"batch": [msg(messageId=str(i), properties={"x": "y" * 20_000}) for i in range(30)]}, None, 413),
    ],
)
def test_invalid_requests_are_refused_like_the_api(collector, body, raw, status):
    assert post(collector.url + "/v1/batch", body, raw=raw).status_code == status
    assert collector.summary()["stored"] == 0


def test_invalid_message_is_dropped_alone_with_200_like_segment(collector):
    # Segment answers 200 and drops only the invalid message; the good one beside it is kept.
    body = {"batch": [{"type": "track", "userId": "u", "messageId": "bad"}, msg()]}
    assert post(collector.url + "/v1/batch", body).status_code == 200
    assert [e["messageId"] for e in collector.events()] == ["m1"]
    [rejection] = collector.rejections()
    assert rejection["message"]["messageId"] == "bad" and "track needs event" in rejection["reason"]
    assert collector.counters()["rejected"] == 1


def test_write_key_is_checked_when_configured():
    with Collector(write_key="right") as server:
        assert post(server.url + "/v1/batch", {"batch": [msg()]}, key="wrong").status_code == 401
        assert post(server.url + "/v1/batch", {"batch": [msg()]}, key="right").status_code == 200


def test_repeats_are_counted_not_stored_twice(collector):
    for _ in range(3):
        post(collector.url + "/v1/batch", {"batch": [msg()]})
    assert collector.summary() == {"stored": 1, "received": 3, "duplicates": 2, "by_type": {"track": 1}}


def test_validate_message():
    assert validate_message(msg()) is None
    assert "event" in validate_message({"type": "track", "userId": "u"})
    assert "event" in validate_message({"type": "track", "userId": "u", "event": ""})
    assert "userId must be a string" in validate_message({"type": "track", "userId": {"id": 1}, "event": "E"})
    assert "userId or anonymousId" in validate_message({"type": "identify"})
    assert "groupId" in validate_message({"type": "group", "userId": "u"})
    assert "previousId" in validate_message({"type": "alias", "userId": "u"})
    assert "type" in validate_message({"type": "nope"})


def test_command_line_collector(tmp_path):
    db = tmp_path / "events.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics_sdk.devserver", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split(" listening on ")[1].split()[0]
        assert post(url + "/v1/batch", {"batch": [msg()]}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()  # (python -X dev: no pipe left to the garbage collector)
    with Collector(db=str(db)) as reopened:  # the SQLite file keeps what was stored
        assert [e["messageId"] for e in reopened.events()] == ["m1"]
