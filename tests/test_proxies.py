"""Proxies, read exactly as requests reads them, and a real forward proxy (Debian's
tinyproxy, CONNECT included) carrying the events."""

from __future__ import annotations

import base64
from typing import Dict, Optional

import pytest
import requests
from requests.utils import select_proxy

from analytics_sdk import Client
from analytics_sdk.delivery.transport import RequestsTransport, make_transport

from .hosts.conftest import processes  # noqa: F401 - the fixture
from .realservers import Tinyproxy
from .test_tls import tls_collector  # noqa: F401 - the fixture

P, Q = "http://proxy-p.invalid:3128", "http://proxy-q.invalid:3128"
URL = "http://collector.internal:8080/v1/batch"
TLS_URL = "https://collector.internal/v1/batch"
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")

CASES = [
    # (url, proxies=, environment)
    (URL, {"http://collector.internal": P}, {}),
    (URL, {"all://collector.internal": P, "http": Q}, {}),
    (URL, {"http://collector.internal": P, "http": Q}, {}),
    (URL, {"http://other.internal": P}, {}),
    (URL, {"https://collector.internal": P}, {}),
    (TLS_URL, {"https://collector.internal": P}, {}),
    (TLS_URL, {"all": P}, {}),
    (URL, {"http": None}, {"HTTP_PROXY": Q}),
    (URL, {"https": P}, {"HTTP_PROXY": Q}),
    (URL, None, {"HTTP_PROXY": Q}),
    (URL, None, {"HTTP_PROXY": Q, "NO_PROXY": "collector.internal"}),
    (URL, None, {"HTTP_PROXY": Q, "NO_PROXY": ".internal"}),
    (URL, {"no_proxy": "collector.internal"}, {"HTTP_PROXY": Q}),
    (URL, {"http": P, "no_proxy": "collector.internal"}, {"HTTP_PROXY": Q}),
    (URL, None, {"ALL_PROXY": Q}),
    (TLS_URL, None, {"HTTPS_PROXY": P, "HTTP_PROXY": Q}),
    (URL, {}, {}),
    (URL, None, {}),
]


def _requests_choice(url: str, proxies: Optional[Dict[str, Optional[str]]]) -> Optional[str]:
    """The proxy requests.post(url, proxies=proxies) would use."""
    with requests.Session() as session:
        settings = session.merge_environment_settings(url, dict(proxies or {}), None, None, None)
    return select_proxy(url, settings["proxies"])


@pytest.mark.parametrize("url, proxies, environ", CASES)
def test_the_proxy_is_the_one_requests_would_use(url, proxies, environ, monkeypatch):
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    transport = make_transport(url, {}, proxies=proxies)
    ours = select_proxy(url, transport.proxies) if isinstance(transport, RequestsTransport) else None
    assert ours == _requests_choice(url, proxies)


# -- through a real forward proxy ------------------------------------------------------

WRITE_KEY = "wk-SECRET-7f3a9c"


@pytest.fixture
def tinyproxy(tmp_path, processes) -> Tinyproxy:  # noqa: F811 - the hosts' fixture
    return Tinyproxy(tmp_path, processes)


def _send(client: Client, n: int) -> Dict[str, object]:
    for i in range(n):
        client.track(f"user-{i}", "Proxied", {"i": i})
    assert client.flush(timeout=30)
    stats = client.stats()
    client.shutdown(timeout=5)
    return stats


def _assert_key_not_logged(proxy: Tinyproxy) -> None:
    log = proxy.log()
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert log and WRITE_KEY not in log and basic not in log


def test_a_per_host_proxy_key_carries_the_events_through_tinyproxy(tinyproxy, collector):
    host = collector.url.rstrip("/")
    client = Client(WRITE_KEY, host=host, proxies={"http://127.0.0.1": tinyproxy.url}, upload_size=50)
    stats = _send(client, 500)
    assert stats["delivered"] == 500 and stats["dropped_total"] == 0
    assert collector.summary()["stored"] == 500
    assert "POST http://127.0.0.1" in tinyproxy.log()  # it did go through the proxy
    _assert_key_not_logged(tinyproxy)


def test_https_goes_through_connect_and_the_key_stays_inside_tls(tinyproxy, tls_collector):  # noqa: F811
    server, ca_file = tls_collector
    host = server.url.replace("http://", "https://").rstrip("/")
    client = Client(WRITE_KEY, host=host, verify=ca_file, proxies={"all://127.0.0.1": tinyproxy.url}, upload_size=50)
    stats = _send(client, 500)
    assert stats["delivered"] == 500 and server.summary()["stored"] == 500
    assert "CONNECT 127.0.0.1" in tinyproxy.log()
    _assert_key_not_logged(tinyproxy)


def test_the_proxy_environment_and_no_proxy(tinyproxy, collector, monkeypatch):
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    proxied = _send(Client(WRITE_KEY, host=collector.url.rstrip("/")), 20)
    carried = tinyproxy.log().count("POST http://127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = _send(Client(WRITE_KEY, host=collector.url.rstrip("/")), 20)
    assert proxied["delivered"] == direct["delivered"] == 20 and collector.summary()["stored"] == 40
    assert carried >= 1 and tinyproxy.log().count("POST http://127.0.0.1") == carried  # NO_PROXY: direct
    _assert_key_not_logged(tinyproxy)
