"""Debian's nginx as the reverse proxy in front of the loopback collector, as in
production: keep-alive limits (idle connections closed after 1 s, at most 10 requests
per connection) over HTTP and TLS, and nginx's own 502/503/504/413 answers."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

from analytics_sdk import Client

from .hosts.conftest import free_port, processes  # noqa: F401 - the fixture
from .rawhttp import Peer, ScriptedServer
from .realservers import Nginx

_SERVER = """
  upstream collector {{ server 127.0.0.1:{collector}; keepalive 4; }}
  upstream stalled {{ server 127.0.0.1:{stalled}; }}
  server {{
    listen 127.0.0.1:{{port}}{tls};
    keepalive_timeout 1s;
    keepalive_requests 10;
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / {{ proxy_pass http://collector; }}
    location /down/ {{ proxy_pass http://127.0.0.1:{closed}/; }}
    location /busy/ {{ return 503; }}
    location /slow/ {{ proxy_pass http://stalled/; proxy_read_timeout 300ms; }}
    location /small/ {{ client_max_body_size 3k; proxy_pass http://collector/; }}
  }}
"""


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _start_nginx(tmp_path: Path, procs: list, collector_port: int, stalled_port: int,
                 certificate: Optional[Tuple[str, str]] = None) -> Nginx:
    tls = ""
    if certificate:
        tls = f" ssl;\n    ssl_certificate {certificate[0]};\n    ssl_certificate_key {certificate[1]}"
    block = _SERVER.format(collector=collector_port, stalled=stalled_port, closed=free_port(), tls=tls)
    return Nginx(tmp_path, procs, block)


@pytest.fixture
def stalled(release) -> Iterator[ScriptedServer]:
    def read_then_say_nothing(peer: Peer) -> None:
        while peer.read_request():
            release.wait(30)

    with ScriptedServer(read_then_say_nothing) as server:
        yield server


@pytest.fixture(params=["http", "https"])
def front(request, tmp_path, processes, collector, stalled) -> Tuple[str, Optional[str], Nginx]:  # noqa: F811
    """nginx in front of the collector: (its base URL, the CA file to verify it with, nginx)."""
    port = int(collector.url.rstrip("/").rsplit(":", 1)[1])
    if request.param == "http":
        nginx = _start_nginx(tmp_path, processes, port, stalled.port)
        return f"http://127.0.0.1:{nginx.port}", None, nginx
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    nginx = _start_nginx(tmp_path, processes, port, stalled.port, (str(cert), str(key)))
    return f"https://127.0.0.1:{nginx.port}", str(ca_file), nginx


def _client(host: str, ca_file: Optional[str], reasons: List[Tuple[str, Optional[int], int]], **options) -> Client:
    options.setdefault("verify", ca_file or True)
    return Client("key", host=host, on_error=lambda e, m: reasons.append((e.reason, e.status, len(m))), **options)


def test_keep_alive_limits_lose_and_repeat_nothing(front, collector):
    # 100 requests: nginx closes every connection after its 10th request, and after 1 s idle.
    host, ca_file, nginx = front
    reasons: List[tuple] = []
    client = _client(host, ca_file, reasons, upload_size=20, backlog_upload_size=20, upload_interval=0.01)
    try:
        for round_ in range(2):
            for i in range(1000):
                client.track(f"user-{i}", "Through nginx", {"round": round_, "i": i})
            assert client.flush(timeout=30)
            if round_ == 0:
                time.sleep(1.5)  # the scenario, not a wait: idle past keepalive_timeout (the SDK reuses until 4 s)
        stats = client.stats()
    finally:
        client.shutdown(timeout=5)
    summary = collector.summary()
    assert reasons == [] and stats["delivered"] == 2000
    assert summary["stored"] == 2000 and summary["duplicates"] == 0
    assert stats["retried_requests"] <= 12  # only fresh tries on sockets nginx closed, no backoff
    posts = nginx.access_log.read_text().count('"POST /v1/batch HTTP/1.1" 200')
    assert posts >= 50  # through nginx, ~100 requests of ~20 events: nginx closed each connection after 10


@pytest.mark.parametrize("path, status", [("/down", 502), ("/busy", 503), ("/slow", 504)])
def test_nginx_error_answers_are_retried_then_reported(front, path, status):
    host, ca_file, nginx = front
    reasons: List[tuple] = []
    client = _client(host + path, ca_file, reasons, max_retries=1)
    try:
        for i in range(5):
            client.track(f"user-{i}", "Refused")
        assert client.flush(timeout=20)
        stats = client.stats()
    finally:
        client.shutdown(timeout=5)
    assert reasons == [("retries_exhausted", status, 5)]
    assert stats["dropped"] == {"retries_exhausted": 5} and stats["retried_requests"] == 1


def test_nginx_413_splits_the_batch_and_reports_only_the_oversized_event(front, collector):
    host, ca_file, nginx = front
    reasons: List[tuple] = []
    client = _client(host + "/small", ca_file, reasons, upload_interval=5)
    try:
        for i in range(20):
            client.track(f"user-{i}", "Small", {"pad": "x" * 200})
        client.track("user-big", "Big", {"pad": "x" * 5000})
        assert client.flush(timeout=20)
        stats = client.stats()
    finally:
        client.shutdown(timeout=5)
    assert reasons == [("too_large", 413, 1)]
    assert stats["delivered"] == 20 and collector.summary()["stored"] == 20
