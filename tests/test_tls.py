"""HTTPS: certificates are verified by default; verify= takes a CA bundle or False."""

from __future__ import annotations

import ssl

import pytest

from analytics_sdk import Client
from analytics_sdk.devserver import Collector

trustme = pytest.importorskip("trustme")


@pytest.fixture
def tls_collector(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server = Collector()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.start()
    yield server, str(ca_file)
    server.stop()


def https_url(server: Collector) -> str:
    return server.url.replace("http://", "https://")


def test_https_with_the_servers_ca(tls_collector):
    server, ca_file = tls_collector
    client = Client("k", host=https_url(server), verify=ca_file)
    client.track("u", "Secure")
    assert client.flush(timeout=5)
    assert [e["event"] for e in server.events()] == ["Secure"]
    client.shutdown(timeout=1)


def test_unknown_certificate_is_refused_and_reported(tls_collector):
    server, _ = tls_collector
    errors = []
    client = Client("k", host=https_url(server), max_retries=0, on_error=lambda e, m: errors.append(e))
    client.track("u", "Insecure")
    assert client.flush(timeout=5)
    assert [e.reason for e in errors] == ["retries_exhausted"]
    assert server.summary()["stored"] == 0
    client.shutdown(timeout=1)


def test_verify_false_skips_verification(tls_collector):
    server, _ = tls_collector
    client = Client("k", host=https_url(server), verify=False)
    client.track("u", "Unverified")
    assert client.flush(timeout=5)
    assert server.summary()["stored"] == 1
    client.shutdown(timeout=1)


def test_a_silent_https_server_is_given_up_on_at_the_timeout(tmp_path):
    # TLS keeps Python's own timeouts (a blocking TLS socket would retry a timed-out read forever).
    import socket
    import threading
    import time

    from analytics_sdk.delivery.transport import HttpTransport

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    done = threading.Event()

    def serve() -> None:
        with listener:  # (python -X dev: no socket left to the garbage collector)
            conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)  # the request; then silence until the test is over
            done.wait(30)

    threading.Thread(target=serve, daemon=True).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    transport = HttpTransport(f"https://127.0.0.1:{listener.getsockname()[1]}/v1/batch", {}, timeout=0.5, verify=str(ca_file))
    started = time.monotonic()
    try:
        attempt = transport.send(b"{}")
    finally:
        done.set()
    assert attempt.status is None
    assert 0.4 < time.monotonic() - started < 10  # 0.5 s, where a read retried forever takes the server's 30
