"""``mparticle.rest``: ``ApiException`` (what a failed upload raises) and ``RESTResponse``
(``api_client.last_response``), with the reference's attributes. The reference's
urllib3 client (``RESTClientObject``) is not reproduced: our transport sends."""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = ["ApiException", "RESTResponse"]


class RESTResponse:
    """An answer: ``status``, ``reason``, ``data`` (text), ``getheaders()``, ``getheader()``.

    Headers are those our HTTP client reads (``Retry-After``), not every header sent."""

    def __init__(self, status: int, reason: str, data: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.status = status
        self.reason = reason
        self.data = data
        self._headers = dict(headers or {})

    def getheaders(self) -> Dict[str, str]:
        return dict(self._headers)

    def getheader(self, name: str, default: Optional[str] = None) -> Optional[str]:
        wanted = name.lower()
        return next((value for key, value in self._headers.items() if key.lower() == wanted), default)

    def __repr__(self) -> str:
        return f"<RESTResponse status={self.status}>"


class ApiException(Exception):
    """An upload mParticle did not accept: ``status`` (0 when no response came),
    ``reason``, ``body`` (text) and ``headers`` of the last response."""

    def __init__(self, status: Optional[int] = None, reason: Optional[str] = None, http_resp: Any = None) -> None:
        if http_resp is not None:  # the reference's signature: a response object
            status = getattr(http_resp, "status", status)
            reason = getattr(http_resp, "reason", reason)
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = getattr(http_resp, "data", None)
        self.headers = http_resp.getheaders() if hasattr(http_resp, "getheaders") else None

    def __str__(self) -> str:
        text = f"({self.status})\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {dict(self.headers.items()) if hasattr(self.headers, 'items') else self.headers}\n"
        if self.body:
            text += f"HTTP response body: {self.body}\n"
        return text
