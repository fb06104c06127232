"""What the collector received, in SQLite: accepted messages (one row per
deduplication key, repeats counted), rejected messages with their reason, and
the requests they came in.

Each request is written in one transaction that is rolled back on any error, so
one bad message can never leave a transaction open for the next request.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ... import process
from .formats import Summary
from .secrets import mask_secret

__all__ = ["EventStore", "RequestRecord", "Accepted", "Rejected", "iso_time"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    event TEXT,
    write_key TEXT,
    received_at REAL NOT NULL,
    times_received INTEGER NOT NULL DEFAULT 1,
    raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    format TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body_bytes INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    error TEXT);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER,
    received_at REAL NOT NULL,
    format TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL);
"""
# Columns added after the first release: databases written by older versions get them on open.
_EVENT_COLUMNS_ADDED = {
    "format": "TEXT NOT NULL DEFAULT 'segment'",
    "what": "TEXT",
    "library": "TEXT",
    "warnings": "TEXT NOT NULL DEFAULT '[]'",
    "request_id": "INTEGER",
}


def iso_time(epoch: float) -> str:
    """UTC ISO-8601 with milliseconds and a Z: unambiguous for people and parsers."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    """Compact JSON that SQLite can hold: readable UTF-8, or ASCII escapes when the text has lone surrogates."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"))  # escapes keep the value exactly as sent
    return text


@dataclass
class RequestRecord:
    """One request as the viewer shows it (headers already stripped of secrets)."""

    format: str
    method: str
    path: str
    status: int
    headers: Dict[str, str]
    body_bytes: int
    messages: int = 0
    error: Optional[str] = None
    received_at: float = field(default_factory=time.time)


@dataclass
class Accepted:
    message: Dict[str, Any]
    summary: Summary
    warnings: List[str]


@dataclass
class Rejected:
    message: Any
    reason: str


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


process.around_os_fork(_hold_store_locks, _release_store_locks, _release_store_locks)


class EventStore:
    """Accepted messages (one row per key), rejections and requests, in SQLite."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            for column, declaration in _EVENT_COLUMNS_ADDED.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE events ADD COLUMN {column} {declaration}")
        except sqlite3.Error:
            self._db.close()
            raise
        _stores.add(self)

    # -- writing ------------------------------------------------------------------------

    def record(self, request: RequestRecord, accepted: List[Accepted], rejected: List[Rejected], write_key: str) -> int:
        """Store one request and what came of its messages, atomically; returns the request id."""
        now = request.received_at
        with self._lock:
            self._db.execute("BEGIN")
            try:
                request_id = self._insert_request(request, len(accepted), len(rejected))
                self._db.executemany(
                    """INSERT INTO events (message_id, type, user_id, anonymous_id, event, write_key, received_at,
                                           raw, format, what, library, warnings, request_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(message_id) DO UPDATE SET times_received = times_received + 1""",
                    [
                        (_stored_key(request.format, item.summary.key), item.summary.type, item.summary.user_id,
                         item.summary.anonymous_id,
                         item.summary.event, mask_secret(write_key), now, _dumps(item.message), request.format,
                         item.summary.what, item.summary.library, _dumps(item.warnings), request_id)
                        for item in accepted
                    ],
                )
                self._db.executemany(
                    "INSERT INTO rejections (request_id, received_at, format, reason, raw) VALUES (?, ?, ?, ?, ?)",
                    [(request_id, now, request.format, item.reason, _dumps(item.message)) for item in rejected],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return request_id

    def record_refused(self, request: RequestRecord) -> int:
        """A request refused as a whole (bad JSON, too large, bad key...)."""
        with self._lock:
            return self._insert_request(request, 0, 0)  # one statement: its own transaction

    def _insert_request(self, request: RequestRecord, accepted: int, rejected: int) -> int:
        cursor = self._db.execute(
            """INSERT INTO requests (received_at, format, method, path, status, headers, body_bytes, messages,
                                     accepted, rejected, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (request.received_at, request.format, request.method, request.path, request.status,
             _dumps(request.headers), request.body_bytes, request.messages, accepted, rejected, request.error),
        )
        return int(cursor.lastrowid or 0)

    # -- reading ----------------------------------------------------------------------------

    def query(
        self,
        type: Optional[str] = None,
        user_id: Optional[str] = None,
        event: Optional[str] = None,
        since: Optional[float] = None,
        after_seq: int = 0,
        limit: Optional[int] = None,
        *,
        user: Optional[str] = None,
        format: Optional[str] = None,
        q: Optional[str] = None,
        until: Optional[float] = None,
        before_seq: Optional[int] = None,
        order: str = "asc",
    ) -> List[Dict[str, Any]]:
        """Stored messages (oldest first unless ``order='desc'``), each with a ``_received`` record."""
        where, args = _event_where(type, user_id, event, since, after_seq, user, format, q, until, before_seq)
        sql = (
            "SELECT seq, raw, received_at, times_received, write_key, format, warnings, request_id, library,"
            " message_id, type, user_id, anonymous_id, event, what"
            f" FROM events{where} ORDER BY seq {'DESC' if order == 'desc' else 'ASC'}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for seq, raw, received_at, times, key, fmt, warnings, request_id, library, *summary in rows:
            message = json.loads(raw)
            message["_received"] = {
                "seq": seq,
                "at": received_at,
                "at_iso": iso_time(received_at),
                "times": times,
                "write_key": mask_secret(key),  # databases written before masking hold it whole
                "format": fmt,
                "library": library,
                "warnings": json.loads(warnings),
                "request_id": request_id,
                # The format's summary (the viewer's columns for formats not shaped like Segment's).
                **dict(zip(("key", "type", "user_id", "anonymous_id", "event", "what"), summary)),
                "key": _shown_key(fmt, summary[0]),
            }
            out.append(message)
        return out

    def count(self, **filters: Any) -> int:
        """How many stored messages match ``filters`` (those of :meth:`query`, without limit and order)."""
        where, args = _event_where(**filters)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM events{where}", args).fetchone()[0])

    def rejections(
        self,
        after_id: int = 0,
        since: Optional[float] = None,
        until: Optional[float] = None,
        limit: Optional[int] = None,
        order: str = "asc",
        q: Optional[str] = None,
        format: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Rejected messages with their reason."""
        where, args = _where(
            [("id > ?", after_id or None), ("received_at >= ?", since), ("received_at <= ?", until),
             ("format = ?", format)],
            q=q,
        )
        sql = f"SELECT id, request_id, received_at, format, reason, raw FROM rejections{where}"
        sql += f" ORDER BY id {'DESC' if order == 'desc' else 'ASC'}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            {"id": rid, "request_id": request_id, "at": at, "at_iso": iso_time(at), "format": fmt,
             "reason": reason, "message": json.loads(raw)}
            for rid, request_id, at, fmt, reason, raw in rows
        ]

    def request(self, request_id: int) -> Optional[Dict[str, Any]]:
        with self._lock:
            row = self._db.execute(
                """SELECT id, received_at, format, method, path, status, headers, body_bytes, messages, accepted,
                          rejected, error FROM requests WHERE id = ?""",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        names = ("id", "at", "format", "method", "path", "status", "headers", "body_bytes", "messages",
                 "accepted", "rejected", "error")
        info = dict(zip(names, row))
        info["headers"] = json.loads(info["headers"])
        info["at_iso"] = iso_time(info["at"])
        return info

    def summary(self) -> Dict[str, Any]:
        with self._lock:
            by_type = dict(self._db.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
            total, received = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(times_received), 0) FROM events"
            ).fetchone()
        return {"stored": total, "received": received, "duplicates": received - total, "by_type": by_type}

    def counters(self) -> Dict[str, Any]:
        """:meth:`summary` plus rejections, refused requests and counts per format."""
        counts = self.summary()
        with self._lock:
            counts["rejected"] = self._db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0]
            counts["rejected_by_reason"] = dict(
                self._db.execute("SELECT reason, COUNT(*) FROM rejections GROUP BY reason").fetchall()
            )
            counts["refused_requests"] = self._db.execute(
                "SELECT COUNT(*) FROM requests WHERE status >= 400"
            ).fetchone()[0]
            counts["by_format"] = dict(self._db.execute("SELECT format, COUNT(*) FROM events GROUP BY format").fetchall())
        return counts

    def per_minute(self, minutes: int = 30, now: Optional[float] = None) -> List[Dict[str, Any]]:
        """Messages received per minute and type over the last ``minutes`` (first receipt only)."""
        end = int((time.time() if now is None else now) // 60)
        start = end - minutes + 1
        with self._lock:
            rows = self._db.execute(
                "SELECT CAST(received_at / 60 AS INTEGER) AS minute, type, COUNT(*) FROM events"
                " WHERE received_at >= ? GROUP BY minute, type",
                (start * 60,),
            ).fetchall()
        buckets: Dict[int, Dict[str, int]] = {m: {} for m in range(start, end + 1)}
        for minute, kind, count in rows:
            if minute in buckets:
                buckets[minute][kind] = count
        return [{"minute": iso_time(m * 60), "by_type": by_type} for m, by_type in buckets.items()]

    def clear(self) -> None:
        with self._lock:
            self._db.executescript("DELETE FROM events; DELETE FROM rejections; DELETE FROM requests;")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _event_where(
    type: Optional[str] = None, user_id: Optional[str] = None, event: Optional[str] = None,
    since: Optional[float] = None, after_seq: int = 0, user: Optional[str] = None, format: Optional[str] = None,
    q: Optional[str] = None, until: Optional[float] = None, before_seq: Optional[int] = None,
) -> Tuple[str, List[Any]]:
    return _where(
        [("type = ?", type), ("user_id = ?", user_id), ("event = ?", event), ("format = ?", format),
         ("received_at >= ?", since), ("received_at <= ?", until), ("seq > ?", after_seq or None),
         ("seq < ?", before_seq)],
        user=user,
        q=q,
    )


def _where(
    conditions: Iterable[Tuple[str, Any]], user: Optional[str] = None, q: Optional[str] = None
) -> Tuple[str, List[Any]]:
    clauses: List[str] = []
    args: List[Any] = []
    for clause, value in conditions:
        if value is not None:
            clauses.append(clause)
            args.append(value)
    if user is not None:
        clauses.append("(user_id = ? OR anonymous_id = ?)")
        args += [user, user]
    if q:
        clauses.append("raw LIKE ? ESCAPE '\\'")
        args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _stored_key(fmt: str, key: str) -> str:
    """Keys are unique per format: one message sent to Segment, Amplitude and mParticle
    (same messageId, insert_id and source_message_id) is three stored events, not duplicates."""
    return key if fmt == "segment" else f"{fmt}:{key}"


def _shown_key(fmt: str, stored: str) -> str:
    prefix = f"{fmt}:"
    return stored[len(prefix):] if fmt != "segment" and stored.startswith(prefix) else stored
