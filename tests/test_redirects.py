"""A collector answering 3xx: no transport follows it, the batch is reported, never
counted delivered (issue 10, item 9).

Real servers on 127.0.0.1: a collector that redirects, the real collector it points
to (which must see nothing), and, for the proxied path, a small forwarding proxy.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest

from analytics_sdk import Client, DeliveryError
from analytics_sdk.delivery.transport import HttpTransport, RequestsTransport


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: List[Tuple[str, str]]
    status: int
    location: str


def _serve(handler: type, **attributes: Any) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    server.seen = []
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class _Redirector(_Quiet):
    """Answers every request with ``server.status`` and a Location elsewhere."""

    server: _Server

    def _redirect(self) -> None:
        self._body()
        self.server.seen.append((self.command, self.path))
        self.send_response(self.server.status)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _redirect  # noqa: N815


class _ForwardingProxy(_Quiet):
    """A plain HTTP forward proxy: takes ``METHOD http://host:port/path`` and relays it."""

    server: _Server

    def _forward(self) -> None:
        body = self._body()
        self.server.seen.append((self.command, self.path))
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream.request(self.command, target.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_POST = do_GET = _forward  # noqa: N815


@pytest.fixture
def proxy() -> Iterator[_Server]:
    server = _serve(_ForwardingProxy)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def redirector(collector: Any) -> Iterator[_Server]:
    server = _serve(_Redirector, status=302, location=collector.url + "/v1/batch")
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("through_proxy", [True, False], ids=["proxy", "direct"])
def test_a_redirect_is_reported_and_never_followed(collector, redirector, proxy, status, through_proxy):
    redirector.status = status
    errors: List[Tuple[Any, Any]] = []
    proxies: Optional[dict] = {"http": _url(proxy)} if through_proxy else None
    client = Client(
        "key", host=_url(redirector), proxies=proxies, max_retries=0, upload_interval=0.01,
        on_error=lambda error, batch: errors.append((error, batch)),
    )
    try:
        expected = RequestsTransport if through_proxy else HttpTransport
        assert isinstance(client._transport, expected)
        ok, message = client.track("u", "E", {"secret": "body"})
        assert ok
        client.flush(timeout=5)
    finally:
        client.shutdown(timeout=2)
    assert redirector.seen == [("POST", "/v1/batch")]  # one POST, no follow-up
    if through_proxy:
        assert [method for method, _ in proxy.seen] == ["POST"]  # the proxy really carried it
    assert collector.requests == []  # the body went nowhere else
    assert collector.events() == []
    stats = client.stats()
    assert stats["delivered"] == 0
    assert stats["dropped"] == {"rejected": 1}
    (error, batch), = errors
    assert isinstance(error, DeliveryError) and error.status == status
    assert [m["messageId"] for m in batch] == [message["messageId"]]
