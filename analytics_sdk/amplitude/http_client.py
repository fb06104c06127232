"""``amplitude.http_client``: ``HttpClient``, ``Response`` and ``HttpStatus`` of
``amplitude-analytics``, and the sender of this drop-in.

The client sends with this SDK's HTTP transport (keep-alive, bounded timeouts),
not with ``HttpClient.post``; but code that *replaces* ``HttpClient.post`` (tests
do: ``HttpClient.post = MagicMock(return_value=Response(HttpStatus.SUCCESS))``)
gets every request, as with the reference: :class:`Sender` checks per request.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import threading
from typing import Any, Callable, Dict, Optional, Sequence, Set
from urllib import error as url_error, request as url_request

from ..delivery.transport import Attempt, make_transport
from .constants import CONNECTION_TIMEOUT, LOGGER_NAME

__all__ = ["HttpStatus", "Response", "HttpClient", "Sender", "JSON_HEADER"]

log = logging.getLogger(LOGGER_NAME)

JSON_HEADER = {"Content-Type": "application/json; charset=UTF-8", "Accept": "*/*"}


class HttpStatus(enum.Enum):
    SUCCESS = 200
    INVALID_REQUEST = 400
    TIMEOUT = 408
    PAYLOAD_TOO_LARGE = 413
    TOO_MANY_REQUESTS = 429
    FAILED = 500
    UNKNOWN = -1


class Response:
    """One answer of Amplitude's API: ``status`` (an HttpStatus), ``code`` and the parsed ``body``."""

    def __init__(self, status: HttpStatus = HttpStatus.UNKNOWN, body: Optional[dict] = None) -> None:
        self.status = status
        self.code: int = status.value
        self.body: Dict[str, Any] = body or {}

    def parse(self, res: Any) -> "Response":
        self.body = json.loads(res.read().decode("utf8"))
        self.code = self.body["code"]
        self.status = self.get_status(self.code)
        return self

    def _field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def error(self) -> str:
        return self._field("error") or ""

    @property
    def missing_field(self) -> Optional[str]:
        return self._field("missing_field")

    @property
    def events_with_invalid_fields(self) -> Optional[dict]:
        return self._field("events_with_invalid_fields")

    @property
    def events_with_missing_fields(self) -> Optional[dict]:
        return self._field("events_with_missing_fields")

    @property
    def events_with_invalid_id_lengths(self) -> Optional[dict]:
        return self._field("events_with_invalid_id_lengths")

    @property
    def silenced_events(self) -> Optional[list]:
        return self._field("silenced_events")

    @property
    def throttled_events(self) -> Optional[list]:
        return self._field("throttled_events")

    def exceed_daily_quota(self, event: Any) -> bool:
        users = self._field("exceeded_daily_quota_users") or ()
        devices = self._field("exceeded_daily_quota_devices") or ()
        return getattr(event, "user_id", None) in users or getattr(event, "device_id", None) in devices

    def invalid_or_silenced_index(self) -> Set[int]:
        found: Set[int] = set()
        for lists in (self.events_with_missing_fields, self.events_with_invalid_fields,
                      self.events_with_invalid_id_lengths):
            for indices in (lists or {}).values():
                found.update(indices)
        found.update(self.silenced_events or ())
        return found

    @staticmethod
    def get_status(code: int) -> HttpStatus:
        if 200 <= code < 300:
            return HttpStatus.SUCCESS
        for status in (HttpStatus.TOO_MANY_REQUESTS, HttpStatus.PAYLOAD_TOO_LARGE, HttpStatus.TIMEOUT):
            if code == status.value:
                return status
        if 400 <= code < 500:
            return HttpStatus.INVALID_REQUEST
        if code >= 500:
            return HttpStatus.FAILED
        return HttpStatus.UNKNOWN


class HttpClient:
    @staticmethod
    def post(url: str, payload: bytes, header: Optional[Dict[str, str]] = None) -> Response:
        """One POST (urllib, no retries): what ``amplitude-analytics`` sends with. The
        client does not use it unless it is replaced (see the module's doc)."""
        result = Response()
        try:
            req = url_request.Request(url, data=payload, headers=header or JSON_HEADER)
            with url_request.urlopen(req, timeout=CONNECTION_TIMEOUT) as res:
                result.parse(res)
        except socket.timeout:
            result.code, result.status = HttpStatus.TIMEOUT.value, HttpStatus.TIMEOUT
        except url_error.HTTPError as exc:
            try:
                result.parse(exc)
            except Exception:  # noqa: BLE001 - a body that is not Amplitude's JSON
                result = Response(Response.get_status(exc.code), {"error": str(exc.reason)})
                result.code = exc.code
        except url_error.URLError as exc:
            result.body = {"error": str(exc.reason)}
        except ValueError as exc:  # a body that is not JSON, an unknown URL type
            result.body = {"error": str(exc)}
        return result


_DEFAULT_POST = HttpClient.__dict__["post"]
_DefaultClient = HttpClient


def replaced_post() -> Optional[Callable[..., Any]]:
    """``HttpClient.post`` when user code replaced it (or the class), else None."""
    cls = globals()["HttpClient"]  # looked up now: ``mock.patch("amplitude.http_client.HttpClient")`` counts
    if cls is _DefaultClient and cls.__dict__.get("post") is _DEFAULT_POST:
        return None
    return cls.post  # type: ignore[no-any-return]


def _attempt(response: Any) -> Attempt:
    """A replaced ``post``'s ``Response`` as one of our attempts (its code, its body as JSON)."""
    code = getattr(response, "code", None)
    if not isinstance(code, int) or isinstance(code, bool) or code < 100:
        error = getattr(response, "error", "") or "no response"
        return Attempt(None, error=str(error))
    body = getattr(response, "body", None)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else b""
    except (TypeError, ValueError):
        data = b""
    return Attempt(code, body=data)


class Sender:
    """The drop-in's transport: this SDK's HTTP transport for the URL the Config names
    now (``set_url``), or a replaced ``HttpClient.post``. ``timeout`` is read per request."""

    def __init__(self, headers: Dict[str, str], timeout: float) -> None:
        self.url = ""
        self.timeout = timeout
        self._headers = headers
        self._inner: Any = None
        self._lock = threading.Lock()

    def set_url(self, url: str) -> None:
        with self._lock:
            if url == self.url:
                return
            self.url = url
            old, self._inner = self._inner, None
        if old is not None:
            old.close()

    def _transport(self) -> Any:
        inner = self._inner
        if inner is None:
            with self._lock:
                inner = self._inner
                if inner is None:
                    inner = self._inner = make_transport(self.url, self._headers, timeout=self.timeout)
        inner.timeout = self.timeout
        return inner

    def send_parts(self, parts: Sequence[Any], timeout: Optional[float] = None) -> Attempt:
        post = replaced_post()
        if post is not None:
            try:
                return _attempt(post(self.url, b"".join(parts)))
            except Exception as exc:  # noqa: BLE001 - user code: a verdict, never a crash
                log.exception("HttpClient.post (replaced) raised")
                return Attempt(None, error=type(exc).__name__)
        if not self.url:
            return Attempt(None, error="no server_url")
        inner = self._transport()
        send_parts = getattr(inner, "send_parts", None)
        if send_parts is not None:
            return send_parts(parts, timeout)  # type: ignore[no-any-return]
        return inner.send(b"".join(parts), timeout)  # type: ignore[no-any-return]

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        return self.send_parts([body], timeout)

    def reset(self) -> None:
        inner = self._inner
        if inner is not None:
            inner.reset()

    def close(self) -> None:
        inner = self._inner
        if inner is not None:
            inner.close()

    def __repr__(self) -> str:
        return f"Sender(url={self.url!r})"
