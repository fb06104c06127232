"""API formats the collector speaks, one module each, looked up by request path.

A format owns everything that differs between backends: its POST routes, where
the credential travels, how a request body becomes messages (and which request
faults reject the whole request), the per-message checks (rejection or
warnings), the columns the viewer shows, and the response body. The HTTP layer,
body limits, faults, storage, counters and the viewer are shared.

Built in: ``segment.py`` (Segment's Tracking API), ``amplitude.py`` (HTTP V2 and
Batch) and ``mparticle.py`` (Events API). To add one: write a module with a
:class:`Format` subclass and call :func:`register` on an instance in
:func:`builtin_formats`; nothing else changes.

Whatever a format accepts is stored only when its answer is a 2xx: a client
told 4xx/5xx/429 resends or drops, so keeping the messages would show events the
backend never took (Amplitude's all-or-nothing 400 relies on this).
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, Union

__all__ = [
    "Format",
    "Headers",
    "RequestError",
    "Verdict",
    "Summary",
    "Outcome",
    "Settings",
    "Response",
    "register",
    "format_for",
    "formats",
    "basic_auth",
    "basic_auth_user",
]


class Headers(Protocol):
    """Request headers: a dict, or http.server's case-insensitive message."""

    def get(self, __name: str, __default: Any = ...) -> Any: ...

    def items(self) -> Any: ...


class RequestError(Exception):
    """The whole request is refused: ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Verdict:
    """What a format's check says about one message."""

    rejection: Optional[str] = None  # the backend would drop this message, and why
    warnings: List[str] = field(default_factory=list)  # accepted, but mangled or ignored downstream


@dataclass
class Summary:
    """The generic columns of one message: indexed in SQLite, shown by the viewer."""

    key: str  # deduplication key (Segment: messageId)
    type: str
    user_id: Optional[str] = None
    anonymous_id: Optional[str] = None
    event: Optional[str] = None  # the event name, for ``?event=`` filters
    what: Optional[str] = None  # one line saying what happened
    library: Optional[str] = None  # the sending library, "name/version"


@dataclass
class Settings:
    """How the running collector was started, for formats whose answer depends on it."""

    write_key: Optional[str] = None
    write_secret: Optional[str] = None  # checked by formats whose credential has a secret (mParticle)
    throttled_ids: Tuple[str, ...] = ()  # users/devices a format answers 429 for (Amplitude)


@dataclass
class Outcome:
    """What became of the messages of one request, for the format's response."""

    accepted: int
    rejected: List[Tuple[int, str]]  # (index in the request, reason)
    # The request itself, for formats whose answer is computed from it whole.
    path: str = ""
    headers: Any = None
    raw: bytes = b""
    settings: Settings = field(default_factory=Settings)


# Status and JSON body, optionally followed by extra response headers.
Response = Union[Tuple[int, Dict[str, Any]], Tuple[int, Dict[str, Any], Dict[str, str]]]


class Format:
    """One backend's API. Subclasses set the class attributes and override the methods."""

    name: str = ""
    routes: Tuple[str, ...] = ()  # POST paths this format answers
    max_body_bytes: int = 500 * 1024  # per request, after decompression
    auth_realm: str = "analytics-sdk collector"

    def credential(self, headers: Headers, body: Any) -> str:
        """The key the request was sent with ('' when none)."""
        return basic_auth_user(headers.get("Authorization", ""))

    def messages(self, path: str, body: Any) -> List[Any]:
        """The messages in a parsed JSON body; raises :class:`RequestError` to refuse the request."""
        raise NotImplementedError

    def check(self, message: Any) -> Verdict:
        """Would the backend keep this message, and what would it change?"""
        raise NotImplementedError

    def checker(self, path: str, body: Any) -> Callable[[Any], Verdict]:
        """The check for this request's messages: :meth:`check`, unless request-level
        options change it (Amplitude's ``options.min_id_length``)."""
        return self.check

    def summarize(self, message: Dict[str, Any], fallback_key: str) -> Summary:
        """The generic columns of an accepted message."""
        raise NotImplementedError

    def request_library(self, headers: Headers) -> Optional[str]:
        """The sending library when the API carries it in the request, not the messages
        (mParticle: the User-Agent); used for messages whose summary names none."""
        return None

    def response(self, outcome: Outcome) -> Response:
        """Status and JSON body for a request that was read and checked.

        May return a third item, extra response headers (``Retry-After``...).
        Accepted messages are stored only when the status is a 2xx.
        """
        raise NotImplementedError

    def error_body(self, status: int, reason: str) -> Dict[str, Any]:
        """JSON body for a refused request."""
        return {"error": reason}

    def credential_refusal(self, key: str) -> RequestError:
        """The refusal when the collector has a write key and ``key`` is not it."""
        return RequestError(401, "invalid write key")


def basic_auth(header: str) -> Tuple[str, str]:
    """(user, password) of an HTTP Basic ``Authorization`` header; ('', '') if absent or malformed."""
    if not header.startswith("Basic "):
        return "", ""
    try:
        # Header text arrives as latin-1; anything non-ASCII is not base64 anyway.
        decoded = base64.b64decode(header[6:].strip().encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def basic_auth_user(header: str) -> str:
    return basic_auth(header)[0]


_FORMATS: Dict[str, Format] = {}
_ROUTES: Dict[str, Format] = {}
_builtins_loaded = False
_builtins_lock = threading.Lock()


def register(fmt: Format) -> Format:
    """Make ``fmt`` answer its routes; a route can belong to one format only."""
    for route in fmt.routes:
        owner = _ROUTES.get(route)
        if owner is not None and owner.name != fmt.name:
            raise ValueError(f"route {route} already belongs to format {owner.name!r}")
    _FORMATS[fmt.name] = fmt
    for route in fmt.routes:
        _ROUTES[route] = fmt
    return fmt


def format_for(path: str) -> Optional[Format]:
    """The format that answers POSTs to ``path``, if any."""
    builtin_formats()
    return _ROUTES.get(path.rstrip("/") or "/")


def formats() -> Dict[str, Format]:
    builtin_formats()
    return dict(_FORMATS)


def builtin_formats() -> None:
    """Register the formats shipped with the collector (idempotent)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    # Under a lock, and marked loaded only once registered: the server's request
    # threads call this concurrently, and one that saw the flag early found no
    # route and answered 404 to the first requests of a busy client.
    with _builtins_lock:
        if _builtins_loaded:
            return
        from .amplitude import AmplitudeFormat
        from .mparticle import MParticleFormat
        from .segment import SegmentFormat

        register(SegmentFormat())
        register(AmplitudeFormat())
        register(MParticleFormat())
        _builtins_loaded = True
