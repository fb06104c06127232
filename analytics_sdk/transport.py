"""One HTTP attempt to ``POST {host}/v1/batch``: auth, gzip, timeout, proxies.

The transport never raises for network trouble: it returns an :class:`Attempt`
with ``status=None`` and the error's class name, and the retry policy decides.
It is a replaceable object (anything with ``send`` and ``reset``), so other
sinks and users' test doubles slot in without touching the consumer.
"""

from __future__ import annotations

import base64
import gzip as gzip_module
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

import requests

from .version import VERSION

__all__ = ["Attempt", "HttpTransport", "DEFAULT_HOST", "USER_AGENT"]

DEFAULT_HOST = "https://api.segment.io"
USER_AGENT = f"analytics-sdk-python/{VERSION}"


@dataclass(frozen=True)
class Attempt:
    """The result of one request: a status, or None and why there was none."""

    status: Optional[int]
    retry_after: Optional[str] = None
    error: str = ""


class HttpTransport:
    """Sends request bodies to a Segment-compatible endpoint with a ``requests.Session``."""

    def __init__(
        self,
        write_key: str,
        host: Optional[str] = None,
        gzip: bool = False,
        timeout: float = 15,
        proxies: Optional[Dict[str, str]] = None,
        verify: Any = True,
    ) -> None:
        self.url = (host or DEFAULT_HOST).rstrip("/") + "/v1/batch"
        self.gzip = gzip
        self.timeout = timeout
        # requests re-reads proxy and CA-bundle environment variables on every
        # request (about half of its CPU cost per POST here). Read them once now
        # and give the session trust_env=False: same behaviour, less GIL time
        # taken from the application's threads.
        if proxies is None:
            proxies = requests.utils.get_environ_proxies(self.url) or None
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.proxies = proxies
        self.verify = verify
        token = base64.b64encode(f"{write_key}:".encode("utf-8")).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._session: Optional[requests.Session] = None

    def __repr__(self) -> str:  # never show the Authorization header
        return f"HttpTransport(url={self.url!r}, gzip={self.gzip})"

    def reset(self) -> None:
        """Forget the session (after fork: the parent's sockets must not be shared)."""
        self._session = None

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        session = self._session
        if session is None:
            session = self._session = requests.Session()
            session.trust_env = False
        data = gzip_module.compress(body, compresslevel=6) if self.gzip else body
        try:
            response = session.post(
                self.url,
                data=data,
                headers=self._headers,
                timeout=self.timeout if timeout is None else timeout,
                proxies=self.proxies,
                verify=self.verify,
            )
        except Exception as exc:  # noqa: BLE001 - network trouble is a verdict, never a crash
            return Attempt(None, error=type(exc).__name__)
        try:
            return Attempt(response.status_code, response.headers.get("Retry-After"))
        finally:
            response.close()
