"""A local Segment-compatible collector: stdlib ``http.server`` + ``sqlite3``.

For development, tests and demos: no account, no network. It accepts
``POST /v1/batch`` and ``POST /v1/{identify,track,page,screen,group,alias}``
(gzip bodies too), checks Basic auth when started with a write key, answers like
the real API (400 invalid, 401 bad key, 413 too large), and stores each accepted
message once per messageId in SQLite, counting repeats.

Fault injection (``Faults``) makes it fail a share of requests with 500 or 429,
drop connections, add latency, stall, cap the body size, or answer 400 for any
batch that contains a poison marker, to test resilience.

Read back stored messages with :meth:`Collector.events` or ``GET /v1/events``;
run it with ``python -m analytics_sdk.devserver --port 8088 --db events.db``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import json
import os
import random
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

__all__ = ["Collector", "Faults", "EventStore", "validate_message", "main"]

MAX_BODY_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def validate_message(message: Any) -> Optional[str]:
    """Why the API would refuse this message, or None if it is acceptable."""
    if not isinstance(message, dict):
        return "message is not an object"
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return f"unknown type {kind!r}"
    if kind == "alias":
        if not message.get("previousId") or not message.get("userId"):
            return "alias needs previousId and userId"
    elif not message.get("userId") and not message.get("anonymousId"):
        return f"{kind} needs userId or anonymousId"
    if kind == "track" and not message.get("event"):
        return "track needs event"
    if kind == "group" and not message.get("groupId"):
        return "group needs groupId"
    return None


_stores: "weakref.WeakSet[EventStore]" = weakref.WeakSet()


def _hold_store_locks() -> None:
    # No SQLite call of the collector may be in progress while the process forks
    # (tests fork beside an in-process collector): a child would inherit SQLite's
    # mutexes held by a thread it does not have.
    for store in list(_stores):
        store._lock.acquire()


def _release_store_locks() -> None:
    for store in list(_stores):
        store._lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_hold_store_locks, after_in_parent=_release_store_locks, after_in_child=_release_store_locks)


class EventStore:
    """Accepted messages in SQLite, one row per messageId."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        _stores.add(self)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS events (
                   seq INTEGER PRIMARY KEY AUTOINCREMENT,
                   message_id TEXT UNIQUE NOT NULL,
                   type TEXT NOT NULL,
                   user_id TEXT,
                   anonymous_id TEXT,
                   event TEXT,
                   write_key TEXT,
                   received_at REAL NOT NULL,
                   times_received INTEGER NOT NULL DEFAULT 1,
                   raw TEXT NOT NULL)"""
        )

    def add(self, messages: List[Dict[str, Any]], write_key: str) -> None:
        now = time.time()
        rows = [
            (
                str(m.get("messageId") or f"generated-{now}-{i}"),
                m["type"],
                m.get("userId"),
                m.get("anonymousId"),
                m.get("event"),
                write_key,
                now,
                json.dumps(m, separators=(",", ":")),
            )
            for i, m in enumerate(messages)
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                """INSERT INTO events (message_id, type, user_id, anonymous_id, event, write_key, received_at, raw)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(message_id) DO UPDATE SET times_received = times_received + 1""",
                rows,
            )
            self._db.execute("COMMIT")

    def query(
        self,
        type: Optional[str] = None,
        user_id: Optional[str] = None,
        event: Optional[str] = None,
        since: Optional[float] = None,
        after_seq: int = 0,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Stored messages, oldest first, as dicts with a ``_received`` record."""
        sql = "SELECT seq, raw, received_at, times_received, write_key FROM events WHERE seq > ?"
        args: List[Any] = [after_seq]
        for column, value in (("type", type), ("user_id", user_id), ("event", event)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if since is not None:
            sql += " AND received_at >= ?"
            args.append(since)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for seq, raw, received_at, times, key in rows:
            message = json.loads(raw)
            message["_received"] = {"seq": seq, "at": received_at, "times": times, "write_key": key}
            out.append(message)
        return out

    def summary(self) -> Dict[str, Any]:
        with self._lock:
            by_type = dict(self._db.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
            total, received = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(times_received), 0) FROM events"
            ).fetchone()
        return {"stored": total, "received": received, "duplicates": received - total, "by_type": by_type}

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM events")

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class Faults:
    """What share of requests to fail, and how. All off by default."""

    error_rate: float = 0.0  # answer 500
    throttle_rate: float = 0.0  # answer 429 with Retry-After
    retry_after: str = "1"
    drop_rate: float = 0.0  # close the connection without answering
    latency: float = 0.0  # seconds added to every request
    stall: bool = False  # never answer (until the collector stops)
    max_body_bytes: int = MAX_BODY_BYTES  # 413 above this
    poison: Optional[str] = None  # 400 for any batch whose body contains this text
    seed: Optional[int] = None


@dataclass
class RequestLog:
    """One POST as the collector saw it (for tests and debugging)."""

    status: Optional[int]
    messages: int  # messages in the batch (0 when the body was not read as a batch)
    body_bytes: int  # as received on the wire (compressed if gzip)
    headers: Dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate small
    # writes meet Nagle + delayed ACK and stall each request by ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.server.collector.verbose:
            super().log_message(format, *args)

    # -- helpers ------------------------------------------------------------------

    def _reply(self, status: int, payload: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
        if self.command == "POST":  # logged before answering, so a client never sees a reply first
            self._log(status)
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _write_key(self, body: Any) -> str:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                return base64.b64decode(header[6:]).decode("utf-8").split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                return ""
        if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            return body["writeKey"]
        return ""

    # -- endpoints ------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        store = self.server.collector.store
        if url.path == "/v1/events":
            since = float(query["since"]) if "since" in query else None
            events = store.query(
                type=query.get("type"),
                user_id=query.get("user_id"),
                event=query.get("event"),
                since=since,
                after_seq=int(query.get("after", 0)),
                limit=int(query["limit"]) if "limit" in query else None,
            )
            self._reply(200, {"events": events})
        elif url.path == "/stats":
            self._reply(200, store.summary())
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        collector = self.server.collector
        faults = collector.faults
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self._batch_count = 0
        self._body_bytes = len(raw)
        if self._handle_post(collector, faults, raw) is None:
            self._log(None)  # dropped or stalled: no reply was written

    def _log(self, status: Optional[int]) -> None:
        entry = RequestLog(status, self._batch_count, self._body_bytes, dict(self.headers.items()))
        self.server.collector._log_request(entry)

    def _handle_post(self, collector: "Collector", faults: Faults, raw: bytes) -> Optional[int]:
        path = urlparse(self.path).path
        if path != "/v1/batch" and path.rsplit("/", 1)[-1] not in MESSAGE_TYPES:
            self._reply(404, {"error": "not found"})
            return 404
        if faults.latency:
            collector._stopping.wait(faults.latency)
        if faults.stall:
            collector._stopping.wait()
            self.close_connection = True
            return None
        roll = collector._random.random()
        if roll < faults.drop_rate:
            self.close_connection = True  # no response at all: the client sees a dropped connection
            return None
        roll -= faults.drop_rate
        if roll < faults.error_rate:
            self._reply(500, {"error": "injected failure"})
            return 500
        roll -= faults.error_rate
        if roll < faults.throttle_rate:
            self._reply(429, {"error": "injected throttle"}, {"Retry-After": faults.retry_after})
            return 429
        if len(raw) > faults.max_body_bytes:
            self._reply(413, {"error": "request body too large"})
            return 413
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                self._reply(400, {"error": "body is not valid gzip"})
                return 400
            if len(raw) > faults.max_body_bytes:
                self._reply(413, {"error": "request body too large"})
                return 413
        try:
            body = json.loads(raw)
        except ValueError:
            self._reply(400, {"error": "body is not valid JSON"})
            return 400
        write_key = self._write_key(body)
        if collector.write_key is not None and write_key != collector.write_key:
            self._reply(401, {"error": "invalid write key"})
            return 401
        if path == "/v1/batch":
            batch = body.get("batch") if isinstance(body, dict) else None
            if not isinstance(batch, list):
                self._reply(400, {"error": "body needs a batch array"})
                return 400
        else:
            if isinstance(body, dict):
                body.setdefault("type", path.rsplit("/", 1)[-1])
            batch = [body]
        self._batch_count = len(batch)
        if faults.poison is not None and faults.poison.encode("utf-8") in raw:
            self._reply(400, {"error": "poison marker found"})
            return 400
        for message in batch:
            if len(json.dumps(message, separators=(",", ":")).encode("utf-8")) > MAX_MESSAGE_BYTES:
                self._reply(413, {"error": "message over 32 KB"})
                return 413
            problem = validate_message(message)
            if problem:
                self._reply(400, {"error": problem})
                return 400
        collector.store.add(batch, write_key)
        self._reply(200, {"success": True})
        return 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    collector: "Collector"


class Collector:
    """A running local collector. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        port: int = 0,
        db: str = ":memory:",
        write_key: Optional[str] = None,
        faults: Optional[Faults] = None,
        host: str = "127.0.0.1",
        verbose: bool = False,
    ) -> None:
        self.write_key = write_key
        self.faults = faults or Faults()
        self.verbose = verbose
        self.store = EventStore(db)
        self.requests: List[RequestLog] = []
        self._requests_lock = threading.Lock()
        self._random = random.Random(self.faults.seed)
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.collector = self
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}"

    def start(self) -> "Collector":
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="analytics_sdk-collector", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self.store.close()

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _log_request(self, entry: RequestLog) -> None:
        with self._requests_lock:
            self.requests.append(entry)

    # -- reading back ---------------------------------------------------------------

    def events(self, **filters: Any) -> List[Dict[str, Any]]:
        """Stored messages, oldest first; filters: type, user_id, event, since, after_seq, limit."""
        return self.store.query(**filters)

    def summary(self) -> Dict[str, Any]:
        return self.store.summary()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` distinct messages are stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.summary()["stored"] >= count:
                return True
            time.sleep(0.02)
        return self.store.summary()["stored"] >= count


def _add_collector_arguments(parser: argparse.ArgumentParser) -> None:
    """The collector's flags (shared by ``python -m analytics_sdk.devserver`` and ``analytics-sdk serve``)."""
    parser.add_argument("--port", type=int, default=8088, help="port on 127.0.0.1 (0 picks a free one; default 8088)")
    parser.add_argument("--db", default="analytics-events.db", help="SQLite file (':memory:' keeps nothing)")
    parser.add_argument("--write-key", default=None, help="require this write key (Basic auth)")
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500")
    faults.add_argument("--throttle-rate", type=float, default=0.0, help="share answered 429")
    faults.add_argument("--retry-after", default="1", help="Retry-After header sent with 429")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped unanswered")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    faults.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="answer 413 above this")
    faults.add_argument("--poison", default=None, help="answer 400 to any batch containing this text")
    parser.add_argument("--verbose", action="store_true", help="log every request")


def run_collector(args: argparse.Namespace) -> int:
    faults = Faults(
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        retry_after=args.retry_after,
        drop_rate=args.drop_rate,
        latency=args.latency,
        max_body_bytes=args.max_body_bytes,
        poison=args.poison,
    )
    collector = Collector(args.port, args.db, args.write_key, faults, verbose=args.verbose)
    print(f"analytics_sdk collector listening on {collector.url} (db: {args.db}); Ctrl-C to stop", flush=True)
    try:
        collector.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics_sdk.devserver",
        description="Run a local Segment-compatible collector that stores events in SQLite.",
    )
    _add_collector_arguments(parser)
    return run_collector(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
