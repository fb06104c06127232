"""Every setting, declared once: :data:`SETTINGS` (name, default, check, doc).

``Client(...)``'s keyword arguments, the module-level settings
(``analytics_sdk.write_key = ...``) and the configuration reference in the docs
all come from this list (a test holds ``Client``'s signature to it).

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
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from .errors import ValidationError

__all__ = [
    "SETTINGS",
    "Setting",
    "validate",
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


def check_callable_or_none(name: str, signature: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is not None and not callable(value):
            raise ValidationError(f"{name} must be callable as {signature}")
        return value

    return check


def _bool(name: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, (bool, int)):  # 0/1 and None read as flags too
            raise ValidationError(f"{name} must be True or False, got {value!r}")
        return value

    return check


def _any(value: Any) -> Any:
    return value


class Setting(NamedTuple):
    """One setting: ``Client(name=...)`` and ``analytics_sdk.name = ...``."""

    name: str
    default: Any
    check: Callable[[Any], Any]  # returns the value to use, or raises ValidationError naming the setting
    doc: str
    positional: bool = False  # in segment-analytics-python's positional order (the rest are keyword-only)
    live: bool = False  # at module level, applies to the running default client at once


def _count(name: str) -> Callable[[Any], int]:
    return lambda value: check_positive_int(name, value)


def _seconds(name: str, positive: bool = False) -> Callable[[Any], float]:
    return lambda value: check_seconds(name, value, positive=positive)


def _optional_seconds(name: str) -> Callable[[Any], Optional[float]]:
    return lambda value: check_optional_seconds(name, value)


SETTINGS: Tuple[Setting, ...] = (
    # segment-analytics-python 2.x's arguments, in its order
    Setting("write_key", None, _any, "The source's write key (required unless `destinations` is given).", True),
    Setting("host", None, check_host, "Base URL of the Segment-compatible API; None means https://api.segment.io. `/v1/batch` is appended.", True),
    Setting("debug", False, _bool("debug"), "Log at DEBUG level to stderr (one handler per process).", True),
    Setting("max_queue_size", 10000, _count("max_queue_size"), "Messages held in memory per destination; a call beyond it is refused and reported as `queue_full`.", True),
    Setting("send", True, _bool("send"), "False: validate and report, send nothing.", True),
    Setting("on_error", None, check_on_error, "`on_error(error, messages)` for every message that is dropped.", True, live=True),
    Setting("gzip", False, _bool("gzip"), "Compress request bodies (Content-Encoding: gzip).", True),
    Setting("max_retries", 10, lambda v: check_non_negative_int("max_retries", v), "Retries of a failed request before its messages are dropped as `retries_exhausted`.", True),
    Setting("sync_mode", False, _bool("sync_mode"), "Send each call's message in the calling thread (no queue, no thread).", True),
    Setting("timeout", 15, _seconds("timeout", positive=True), "Seconds a request may take (connect and each read).", True),
    Setting("proxies", None, _any, "requests-style proxies: scheme, `scheme://host` or `all` keys.", True),
    Setting("thread", 1, _count("thread"), "Uploader threads per destination.", True),
    Setting("upload_size", 100, _count("upload_size"), "Messages per request (at most 500 KB).", True),
    Setting("upload_interval", 0.5, _seconds("upload_interval"), "Seconds a partial batch may wait for more messages.", True),
    Setting("log_handler", None, _any, "A `logging.Handler` added to the `analytics_sdk` logger.", True),
    Setting("max_total_backoff_duration", 300.0, _seconds("max_total_backoff_duration"), "Seconds one request may spend retrying.", True),
    Setting("max_rate_limit_duration", None, _optional_seconds("max_rate_limit_duration"), "Accepted for compatibility with segment-analytics-python; 429s follow `Retry-After` within `max_total_backoff_duration`.", True),
    # additions (keyword-only)
    Setting("destinations", None, _any, "Where messages go: a list of `Destination`s (default: Segment's API at `host` with `write_key`)."),
    Setting("callback", None, check_callable_or_none("callback", "callback(event, code, message)"), "`callback(event, code, message)` for every outcome.", live=True),
    Setting("opt_out", False, _bool("opt_out"), "A runtime switch: calls validate but send nothing.", live=True),
    Setting("flush_timeout", None, _optional_seconds("flush_timeout"), "Default bound of `flush()`/`shutdown()`; None waits for every outcome."),
    Setting("exit_timeout", None, _optional_seconds("exit_timeout"), "Deadline of delivery at exit and SIGTERM; None: `flush_timeout` if set, else 5 s."),
    Setting("queue_full_timeout", 0.0, _seconds("queue_full_timeout"), "Seconds a call may block for room when the queue is full; 0 refuses at once."),
    Setting("verify", True, check_verify, "TLS verification as in requests: True, False or a CA bundle path."),
    Setting("transport", None, _any, "A replacement sender for the default destination (tests, custom HTTP)."),
    Setting("spool_path", None, _any, "An SQLite file that keeps the backlog on disk across restarts (off by default)."),
    Setting("spool_max_messages", 1_000_000, _count("spool_max_messages"), "Messages the spool holds before calls are refused as `spool_full`."),
    Setting("spool_sync", False, _bool("spool_sync"), "fsync each spool write (survives power loss, slower)."),
    Setting("handle_sigterm", True, _bool("handle_sigterm"), "Deliver at SIGTERM; an application's own handler is kept and runs first."),
    Setting("backlog_upload_size", 1000, _count("backlog_upload_size"), "Messages per request while more than `upload_size` are queued (500 KB at most)."),
)

DEFAULTS: Dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}
LIVE_SETTINGS = frozenset(setting.name for setting in SETTINGS if setting.live)


def validate(values: Dict[str, Any]) -> Dict[str, Any]:
    """Each setting's value checked (and normalised) by its own check; raises the first error."""
    return {setting.name: setting.check(values[setting.name]) for setting in SETTINGS}
