"""The HTTP side: routes, bounded reads, faults, read authentication, the viewer's files.

Every request gets an HTTP answer (a JSON error at worst), never a dropped
connection and a traceback, unless a fault asks for exactly that.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional
from urllib.parse import parse_qs, urlparse

from .bodies import read_body
from .formats import RequestError, Settings, basic_auth, format_for, formats
from .ingest import ingest
from .queries import event_filters
from .store import EventStore

if TYPE_CHECKING:
    from .server import Collector

__all__ = ["Handler"]

logger = logging.getLogger("analytics_sdk.collector")

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
VIEWER_FILES = {"/": "index.html", "/index.html": "index.html", "/viewer.js": "viewer.js", "/viewer.css": "viewer.css"}
# The page renders data anyone can send: no inline script, nothing from elsewhere.
VIEWER_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'"
_READ_PARAMS = {"after", "since", "until", "limit", "order", "q", "format"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate small
    # writes meet Nagle + delayed ACK and stall each request by ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: Any  # the collector's server, which carries ``collector``

    @property
    def collector(self) -> "Collector":
        return self.server.collector

    def setup(self) -> None:
        super().setup()
        # An idle or half-open connection times out instead of holding a thread forever.
        self.connection.settimeout(self.collector.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.collector.verbose:
            super().log_message(format, *args)

    # -- replies ----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reply(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    # -- reads ------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            self._get()
        except RequestError as bad:
            self._reply(bad.status, {"error": bad.reason})
        except Exception:  # never a dropped connection
            logger.exception("collector: GET %s failed", self.path)
            self._reply(500, {"error": "internal error"})

    do_HEAD = do_GET

    def _read_allowed(self) -> bool:
        key = self.collector.write_key
        if key is None:
            return True
        # The browser's Basic prompt: the key may go in either field.
        return key in basic_auth(self.headers.get("Authorization", ""))

    def _get(self) -> None:
        url = urlparse(self.path)
        if not self._read_allowed():
            # The browser answers this with its own sign-in prompt: the write key as user name.
            self._reply(401, {"error": "this collector needs its write key to read"},
                        {"WWW-Authenticate": 'Basic realm="analytics-sdk collector", charset="UTF-8"'})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        store = self.collector.store
        if url.path in VIEWER_FILES:
            self._static(VIEWER_FILES[url.path])
        elif url.path == "/v1/events":
            self._reply(200, _events_page(store, event_filters(query)))
        elif url.path == "/v1/rejections":
            self._reply(200, {"rejections": store.rejections(**_rejection_filters(query))})
        elif url.path.startswith("/v1/requests/"):
            info = store.request(_positive(url.path.rsplit("/", 1)[-1], "request id"))
            self._reply(200, info) if info else self._reply(404, {"error": "no such request"})
        elif url.path == "/stats":
            minutes = _positive(query.get("minutes", "30"), "minutes", high=24 * 60)
            stats = store.counters()
            stats["per_minute"] = store.per_minute(minutes)
            stats["formats"] = sorted(formats())
            self._reply(200, stats)
        else:
            self._reply(404, {"error": "not found"})

    def _static(self, name: str) -> None:
        data = (VIEWER_DIR / name).read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": VIEWER_CSP, "X-Content-Type-Options": "nosniff"}
        self._send(200, data, kind + "; charset=utf-8", headers)

    # -- writes ------------------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802
        self._logged = False
        self._messages = 0
        self._body_bytes = 0
        try:
            status = self._post()
        except Exception:
            logger.exception("collector: POST %s failed", self.path)
            self.close_connection = True
            status = self._answer(500, {"error": "internal error"})
        if status is None:
            self._log(None)  # dropped or stalled: no reply was written

    def _answer(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> int:
        self._log(status)  # logged before answering, so a client never sees a reply first
        self._reply(status, payload, headers)
        return status

    def _log(self, status: Optional[int]) -> None:
        if self._logged:
            return
        self._logged = True
        from .server import RequestLog

        entry = RequestLog(status, self._messages, self._body_bytes, dict(self.headers.items()))
        self.collector._log_request(entry)

    def _post(self) -> Optional[int]:
        collector = self.collector
        faults = collector.faults
        path = urlparse(self.path).path
        fmt = format_for(path)
        if fmt is None:
            self.close_connection = True  # the body was not read
            return self._answer(404, {"error": "not found"})
        limit = faults.max_body_bytes or fmt.max_body_bytes
        try:
            raw = read_body(self.rfile, self.headers, limit)
        except RequestError as bad:
            self.close_connection = True  # the rest of the body is unread or unframed
            return self._answer(bad.status, fmt.error_body(bad.status, bad.reason))
        except (TimeoutError, OSError):
            self.close_connection = True  # the client went quiet mid-body
            return None
        self._body_bytes = len(raw)
        fault = self._fault(raw, fmt)
        if fault is not None:
            return fault if fault else None
        settings = Settings(collector.write_key, collector.write_secret, tuple(faults.throttled_ids))
        result = ingest(collector.store, fmt, path, self.headers, raw, limit, collector.write_key, faults.poison, settings)
        self._messages = result.messages
        return self._answer(result.status, result.body, result.headers)

    def _fault(self, raw: bytes, fmt: Any) -> Optional[int]:
        """The injected fault's status, 0 for no answer at all, None for no fault."""
        collector = self.collector
        faults = collector.faults
        if faults.latency:
            collector._stopping.wait(faults.latency)
        if faults.stall:
            collector._stopping.wait()
            self.close_connection = True
            return 0
        roll = collector._random.random()
        if roll < faults.drop_rate:
            self.close_connection = True  # no response at all: the client sees a dropped connection
            return 0
        roll -= faults.drop_rate
        if roll < faults.error_rate:
            return self._answer(500, fmt.error_body(500, "injected failure"))
        roll -= faults.error_rate
        if roll < faults.throttle_rate:
            return self._answer(429, fmt.error_body(429, "injected throttle"), {"Retry-After": faults.retry_after})
        return None


def _events_page(store: EventStore, filters: Dict[str, Any]) -> Dict[str, Any]:
    """The events, and how many more matched past ``limit`` (counted only when the page is full)."""
    events = store.query(**filters)
    limit = filters.get("limit")
    more = 0
    if limit is not None and len(events) >= limit:
        counted = {k: v for k, v in filters.items() if k not in ("limit", "order")}
        more = max(0, store.count(**counted) - len(events))
    return {"events": events, "more": more}


def _positive(text: str, name: str, high: Optional[int] = None) -> int:
    if not text.isdigit() or int(text) < 1 or (high is not None and int(text) > high):
        raise RequestError(400, f"{name} must be a positive integer{f' up to {high}' if high else ''}, got {text!r}")
    return int(text)


def _rejection_filters(query: Dict[str, str]) -> Dict[str, Any]:
    unknown = set(query) - _READ_PARAMS
    if unknown:
        raise RequestError(400, f"unknown parameter {sorted(unknown)[0]!r}")
    filters = event_filters(query)  # same parsing and errors as /v1/events
    if "after_seq" in filters:
        filters["after_id"] = filters.pop("after_seq")
    return filters
