"""``mparticle.rest.ApiException``: what a failed upload raises (same attributes as the reference)."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["ApiException"]


class ApiException(Exception):
    """An upload mParticle did not accept: ``status`` (0 when no response came),
    ``reason``, ``body`` (text) and ``headers`` of the last response."""

    def __init__(self, status: Optional[int] = None, reason: Optional[str] = None, http_resp: Any = None) -> None:
        super().__init__(status, reason)
        if http_resp is not None:  # the reference's signature: a response object
            self.status = getattr(http_resp, "status", status)
            self.reason = getattr(http_resp, "reason", reason)
            self.body = getattr(http_resp, "data", None)
            self.headers = http_resp.getheaders() if hasattr(http_resp, "getheaders") else None
        else:
            self.status = status
            self.reason = reason
            self.body = None
            self.headers = None

    def __str__(self) -> str:
        text = f"({self.status})\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {dict(self.headers.items()) if hasattr(self.headers, 'items') else self.headers}\n"
        if self.body:
            text += f"HTTP response body: {self.body}\n"
        return text
