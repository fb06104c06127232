"""What the viewer may show of a request's headers: everything but credentials."""

from __future__ import annotations

from typing import Dict

from .formats import Headers

__all__ = ["redact_headers", "REDACTED"]

REDACTED = "[redacted]"
_SECRET_NAMES = ("authorization", "cookie", "key", "token", "secret", "password", "signature", "credential")


def redact_headers(headers: Headers) -> Dict[str, str]:
    """Headers with the value of any credential-like header replaced."""
    return {
        name: REDACTED if any(part in name.lower() for part in _SECRET_NAMES) else value
        for name, value in headers.items()
    }
