"""Pure validators for client settings and lifecycle timeouts.

Each ``check_*`` returns the value it was given (so a call site can validate and
assign in one step) or raises :class:`ValidationError` naming the setting. They
run where a setting is taken (``Client(...)``, ``flush``/``shutdown``/``join``),
so a bad value fails there, in the caller's thread, with a clear message, and not
later as an ``OverflowError`` inside a lock wait or a ``ValueError`` at send time.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, Optional
from urllib.parse import urlsplit

from .errors import ValidationError

__all__ = [
    "MAX_SECONDS",
    "check_write_key",
    "check_positive_int",
    "check_non_negative_int",
    "check_seconds",
    "check_optional_seconds",
    "check_host",
    "check_verify",
    "check_on_error",
]

# The longest wait threads and sockets accept (about 292 years): anything longer is
# an OverflowError inside Lock.acquire/Event.wait, so it is refused here instead.
MAX_SECONDS: float = threading.TIMEOUT_MAX


def check_write_key(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("write_key is required: Client('YOUR_WRITE_KEY') or analytics_sdk.write_key = ...")
    if not value.isascii():
        try:
            value.encode("utf-8")  # it goes into the Authorization header as UTF-8
        except UnicodeEncodeError:
            raise ValidationError("write_key contains a lone surrogate (not valid Unicode text)") from None
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise ValidationError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_seconds(name: str, value: Any, *, positive: bool = False) -> float:
    """A duration in seconds: a finite number, at least 0 (above 0 if ``positive``),
    at most :data:`MAX_SECONDS`. ``math.inf`` is refused: no wait may be endless."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValidationError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise ValidationError(f"{name} must be a finite number of seconds (at most {MAX_SECONDS:.0f}), got {value!r}")
    if positive and value <= 0:
        raise ValidationError(f"{name} must be greater than 0 seconds, got {value!r}")
    if value < 0:
        raise ValidationError(f"{name} must be 0 or more seconds, got {value!r}")
    return value


def check_optional_seconds(name: str, value: Any) -> Optional[float]:
    return None if value is None else check_seconds(name, value)


def check_host(value: Any) -> Optional[str]:
    """``None`` (Segment's API) or an absolute http(s) URL with a host name and a
    valid port; a path prefix is allowed (``/v1/batch`` is appended), a query or
    fragment is not (it would end up before ``/v1/batch``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ValidationError(f"host must be an http:// or https:// URL, got {value!r}")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValidationError(f"host must not contain whitespace or control characters, got {value!r}")
    if "?" in value:
        raise ValidationError(f"host must not have a query string: {value!r}")
    if "#" in value:
        raise ValidationError(f"host must not have a fragment: {value!r}")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValidationError(f"host is not a valid URL ({exc}): {value!r}") from None
    if not parts.hostname:
        raise ValidationError(f"host has no host name: {value!r}")
    try:
        port = parts.port  # None when absent; raises when not a number in 0-65535
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError(f"host has an invalid port (it must be 1-65535): {value!r}")
    return value


def check_verify(value: Any) -> Any:
    """requests' ``verify``: True, False, or the path of a CA bundle file or directory.

    An explicit path that does not exist is refused here; a missing bundle named by
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` is an environment problem, reported
    by the transport through ``on_error`` instead (docs/configuration.md).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.exists(path):
            raise ValidationError(f"verify names a CA bundle that does not exist: {path!r}")
        return path
    raise ValidationError(f"verify must be True, False or the path of a CA bundle, got {type(value).__name__}")


def check_on_error(value: Any) -> Any:
    if not value:
        return None  # Segment code sometimes passes False
    if not callable(value):
        raise ValidationError("on_error must be callable as on_error(error, messages)")
    return value
