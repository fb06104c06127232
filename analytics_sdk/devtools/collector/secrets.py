"""What the collector may show of credentials: that one was sent, and at most its last four characters.

Nothing the read API returns (events, rejections, requests, stats) carries a write
key or an API secret whole: the viewer and ``GET /v1/...`` are open to any local
reader when the collector runs without ``--write-key``.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, Optional

from .formats import Headers

__all__ = ["redact_headers", "mask_secret", "mask_in_text", "REDACTED"]

REDACTED = "[redacted]"
_SECRET_NAMES = ("authorization", "cookie", "key", "token", "secret", "password", "signature", "credential")
_HIDDEN = "****"
# Below this length the last four characters would be half the key or more: none are shown.
_MIN_LENGTH_FOR_A_TAIL = 12
_MASKED = re.compile(r"\*{4}[^*]{0,4}")


def redact_headers(headers: Headers) -> Dict[str, str]:
    """Headers with the value of any credential-like header replaced."""
    return {
        name: REDACTED if any(part in name.lower() for part in _SECRET_NAMES) else value
        for name, value in headers.items()
    }


def mask_secret(value: Optional[str]) -> Optional[str]:
    """``****`` plus the last four characters of a long key, ``****`` alone for a short one;
    None or '' (nothing was sent) stays as it is. Masking a masked value changes nothing."""
    if not value:
        return value
    if _MASKED.fullmatch(value):
        return value
    return _HIDDEN if len(value) < _MIN_LENGTH_FOR_A_TAIL else _HIDDEN + value[-4:]


def mask_in_text(text: Optional[str], secrets: Iterable[Optional[str]]) -> Optional[str]:
    """``text`` with each secret in it masked (an error message that quotes the key it refused)."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 2 and secret in text:
            text = text.replace(secret, mask_secret(secret) or _HIDDEN)
    return text
