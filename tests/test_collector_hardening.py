"""What a hostile client did to the local collector (issue 10, items 10-13), against a real server."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import zlib

import pytest
import requests

from analytics_sdk.devserver import Collector

from .waiting import wait_until

AUTH = "Basic " + base64.b64encode(b"k:").decode()


def good(message_id):
    return {"type": "track", "userId": "u", "event": "E", "messageId": message_id}


def send(url, raw, headers=None):
    return requests.post(url + "/v1/batch", data=raw, headers={"Authorization": AUTH, **(headers or {})}, timeout=5)


def raw_request(port, head: bytes, body: bytes = b"", timeout=5.0) -> bytes:
    """Send bytes as they are (malformed on purpose) and return the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = conn.recv(65536)
            if not piece:
                break
            answer += piece
        return answer


# -- 10: a bad message never wedges the store ----------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        '{"type": "track", "userId": "\\ud800", "event": "E", "messageId": "surrogate"}',
        '{"type": "track", "userId": {"id": 1}, "event": "E", "messageId": "object-id"}',
        '{"type": "track", "userId": "u", "event": "E", "messageId": {"not": "a string"}}',
        '{"type": "track", "userId": "u", "event": ["E"], "messageId": "list-event"}',
    ],
)
def test_a_bad_message_takes_neither_its_batch_nor_later_requests(collector, bad):
    raw = '{"batch": [%s, %s]}' % (json.dumps(good("before")), bad)
    assert send(collector.url, raw).status_code == 200
    assert send(collector.url, json.dumps({"batch": [good("after")]})).status_code == 200  # not wedged
    stored = [e["messageId"] for e in collector.events()]
    assert "before" in stored and "after" in stored
    assert collector.summary()["stored"] + collector.counters()["rejected"] == 3


def test_lone_surrogate_is_kept_as_sent_with_a_warning(collector):
    raw = '{"batch": [{"type": "track", "userId": "u\\udc80", "event": "E", "messageId": "s"}]}'
    assert send(collector.url, raw).status_code == 200
    [event] = collector.events()
    assert event["userId"] == "u\udc80"
    assert any("lone surrogate" in w for w in event["_received"]["warnings"])


# -- 11: bounded memory, time and threads ------------------------------------------------------


def test_huge_content_length_is_refused_before_reading(collector):
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_request(collector.port, head, b'{"batch": [')  # the other 99.99 MB never come
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert time.monotonic() - started < 3


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads peak RSS from /proc")
def test_gzip_bomb_stops_inflating_at_the_limit(tmp_path):
    # 200 MB of zeros in ~200 KB of gzip, built in pieces so the test itself stays small.
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(200)) + packer.flush()
    server = subprocess.Popen(
        [sys.executable, "-m", "analytics_sdk.devserver", "--port", "0", "--db", ":memory:"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = server.stdout.readline().split(" listening on ")[1].split()[0]
        before = _peak_rss_kb(server.pid)
        response = send(url, bomb, {"Content-Encoding": "gzip"})
        grown_mb = (_peak_rss_kb(server.pid) - before) / 1024
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()  # (python -X dev: no pipe left to the garbage collector)
    assert response.status_code == 413
    assert grown_mb < 20, grown_mb


def test_idle_connections_are_closed():
    with Collector(idle_timeout=0.3) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            started = time.monotonic()
            assert idle.recv(100) == b""  # the server closed it
            assert time.monotonic() - started < 3


def test_past_the_connection_limit_new_connections_get_503():
    with Collector(max_connections=3, idle_timeout=10) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        try:
            answers = []

            def refused() -> bool:  # once the server took the three (till then a slot is free)
                answers.append(raw_request(server.port, b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"))
                return answers[-1].startswith(b"HTTP/1.1 503")

            assert wait_until(refused, 30), answers[-1][:60]
        finally:
            for conn in idle:
                conn.close()
        # Slots come back when connections end.
        assert wait_until(lambda: requests.get(server.url + "/stats", timeout=5).status_code == 200, 30), (
            "slots were not released")


# -- 12: malformed requests get an answer -------------------------------------------------------


@pytest.mark.parametrize(
    "header, status",
    [
        (b"Content-Length: abc", 400),
        (b"Content-Length: -1", 400),
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked", 400),  # chunked wins, and "hello" is no chunk size
        (b"Transfer-Encoding: chunked", 400),
    ],
)
def test_bad_framing_gets_a_400(collector, header, status):
    head = b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n"
    answer = raw_request(collector.port, head, b"hello\r\n")
    assert answer.startswith(b"HTTP/1.1 %d" % status), answer[:100]


def test_non_ascii_basic_auth_is_401_not_a_dropped_connection():
    with Collector(write_key="k") as server:
        body = json.dumps({"batch": [good("m")]}).encode()
        head = (
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert raw_request(server.port, head, body).startswith(b"HTTP/1.1 401")


def test_deeply_nested_body_is_a_400(collector):
    raw = '{"batch": [' + '[' * 100_000 + ']' * 100_000 + ']}'
    assert send(collector.url, raw).status_code == 400


def test_non_utf8_body_is_a_400(collector):
    assert send(collector.url, b'{"batch": [{"type": "track", "event": "\xff\xfe"}]}').status_code == 400


# -- 13: reads need the key too ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/viewer.js", "/v1/events", "/v1/rejections", "/stats", "/v1/requests/1"])
def test_reads_need_the_write_key_when_one_is_set(path):
    with Collector(write_key="secret-key") as server:
        assert send(server.url, json.dumps({"batch": [good("m")]}), {"Authorization": "Basic " + base64.b64encode(b"secret-key:").decode()}).status_code == 200
        anonymous = requests.get(server.url + path, timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")  # the browser's sign-in prompt
        assert "secret-key" not in anonymous.text
        assert requests.get(server.url + path, auth=("wrong", ""), timeout=5).status_code == 401
        assert requests.get(server.url + path, auth=("secret-key", ""), timeout=5).status_code == 200
        assert requests.get(server.url + path, auth=("", "secret-key"), timeout=5).status_code == 200


def test_request_info_has_no_secrets(collector):
    headers = {"X-Api-Key": "hidden-1", "Cookie": "session=hidden-2"}
    assert send(collector.url, json.dumps({"batch": [good("m")]}), headers).status_code == 200
    request_id = collector.events()[0]["_received"]["request_id"]
    info = requests.get(f"{collector.url}/v1/requests/{request_id}", timeout=5).json()
    assert info["path"] == "/v1/batch" and info["messages"] == 1 and info["status"] == 200
    text = json.dumps(info)
    assert "hidden-1" not in text and "hidden-2" not in text and AUTH.split()[1] not in text
    assert info["headers"]["Authorization"] == "[redacted]"
