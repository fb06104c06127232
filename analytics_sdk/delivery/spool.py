"""The on-disk spool: encoded messages in SQLite until the collector accepts them.

Storage only (no threads): :class:`~analytics_sdk.spooled.SpooledConsumer`
decides when to write, claim and delete. One row per message, oldest first:

* ``owner`` is the process that wrote the row (``pid@host``). A process sends
  only its own rows, plus rows whose owner process is gone (a crash, SIGKILL, a
  previous run), which it adopts. So a fork child never resends its parent's rows
  and two live processes on one file never send the same row.
* ``claimed`` marks rows an uploader is sending; rows are deleted only after the
  collector accepted them or they were dropped with a reason. A process that dies
  mid-send leaves claimed rows, which the next process adopts and resends with the
  same messageIds: delivery is at-least-once across a crash.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import weakref
from typing import List, Optional, Sequence, Tuple

__all__ = ["Spool", "SpoolError"]


# One statement per group of rows, not one per row: each SQLite step releases the
# GIL, and getting it back from a busy caller can take a 5 ms switch interval.
_ROWS_PER_STATEMENT = 400


class SpoolError(Exception):
    """The spool file cannot be used (corrupt, unreadable, locked)."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class Spool:
    """A bounded FIFO of encoded messages in a SQLite file (WAL mode)."""

    def __init__(self, path: str, max_messages: int = 1_000_000) -> None:
        self.path = path
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._db: Optional[sqlite3.Connection] = None
        self._inherited_connections: List[Optional[sqlite3.Connection]] = []
        self.broken = ""
        self._open()
        _spools.add(self)

    # -- connection ----------------------------------------------------------------

    def _open(self) -> None:
        self.owner = f"{os.getpid()}@{socket.gethostname()}"
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives the process being killed (the WAL is in the
            # OS page cache); only a power loss can take the last commits.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                """CREATE TABLE IF NOT EXISTS spool (
                       id INTEGER PRIMARY KEY AUTOINCREMENT,
                       owner TEXT NOT NULL,
                       claimed INTEGER NOT NULL DEFAULT 0,
                       body BLOB NOT NULL)"""
            )
            db.execute("CREATE INDEX IF NOT EXISTS spool_owner ON spool (owner, claimed, id)")
            self._count = db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot use spool file {self.path!r}: {exc}") from exc
        self._db = db

    def _after_fork_in_child(self) -> None:
        # A child must neither use nor close its parent's connection (closing it
        # would disturb SQLite's per-file lock bookkeeping): keep it, unused. Our
        # own connection is opened on first use, by a background thread, never in
        # this hook: another parent thread may have been inside SQLite at fork
        # time, and the fork must not hang the child's main thread on its mutex.
        self._inherited_connections.append(self._db)
        self._lock = threading.Lock()
        self._db = None
        self.owner = f"{os.getpid()}@{socket.gethostname()}"

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:  # first use after fork
            self._open()
        assert self._db is not None
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    # -- operations -------------------------------------------------------------------

    def append(self, items: Sequence[bytes]) -> int:
        """Write messages in one transaction; returns how many fitted under the limit."""
        with self._lock:
            room = max(0, self.max_messages - self._count)
            accepted = list(items[:room])
            if accepted:
                self._connection().execute("BEGIN IMMEDIATE")
                try:
                    for start in range(0, len(accepted), _ROWS_PER_STATEMENT):
                        chunk = accepted[start : start + _ROWS_PER_STATEMENT]
                        values = ",".join(["(?, ?)"] * len(chunk))
                        params = [value for body in chunk for value in (self.owner, body)]
                        self._connection().execute(f"INSERT INTO spool (owner, body) VALUES {values}", params)
                    self._connection().execute("COMMIT")
                except BaseException:
                    self._connection().execute("ROLLBACK")
                    raise
                self._count += len(accepted)
            return len(accepted)

    def adopt_orphans(self) -> int:
        """Take over rows written on this host by processes that no longer exist."""
        host = socket.gethostname()
        with self._lock:
            owners = [row[0] for row in self._connection().execute("SELECT DISTINCT owner FROM spool WHERE owner != ?", (self.owner,))]
            dead = []
            for owner in owners:
                pid, _, owner_host = owner.partition("@")
                if owner_host == host and pid.isdigit() and not _process_alive(int(pid)):
                    dead.append(owner)
            adopted = 0
            for owner in dead:
                cursor = self._connection().execute(
                    "UPDATE spool SET owner = ?, claimed = 0 WHERE owner = ?", (self.owner, owner)
                )
                adopted += cursor.rowcount
            self._count = self._connection().execute("SELECT COUNT(*) FROM spool").fetchone()[0]
            return adopted

    def claim(self, max_count: int) -> List[Tuple[int, bytes]]:
        """Mark up to ``max_count`` of our oldest unclaimed rows as being sent."""
        with self._lock:
            self._connection().execute("BEGIN IMMEDIATE")
            try:
                rows = self._connection().execute(
                    "SELECT id, body FROM spool WHERE owner = ? AND claimed = 0 ORDER BY id LIMIT ?",
                    (self.owner, max_count),
                ).fetchall()
                if rows:
                    self._update_ids("UPDATE spool SET claimed = 1", [row[0] for row in rows])
                self._connection().execute("COMMIT")
            except BaseException:
                self._connection().execute("ROLLBACK")
                raise
        return [(rowid, bytes(body)) for rowid, body in rows]

    def release(self, rowids: Sequence[int]) -> None:
        """Give claimed rows back (sent next time); used when a deadline stops a send."""
        with self._lock:
            self._update_ids("UPDATE spool SET claimed = 0", rowids)

    def delete(self, rowids: Sequence[int]) -> None:
        """Forget rows that reached a final outcome (delivered or reported)."""
        with self._lock:
            self._update_ids("DELETE FROM spool", rowids)
            self._count -= len(rowids)

    def _update_ids(self, statement: str, rowids: Sequence[int]) -> None:
        for start in range(0, len(rowids), _ROWS_PER_STATEMENT):
            chunk = list(rowids[start : start + _ROWS_PER_STATEMENT])
            self._connection().execute(f"{statement} WHERE id IN ({','.join(['?'] * len(chunk))})", chunk)

    def last_id(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COALESCE(MAX(id), 0) FROM spool WHERE owner = ?", (self.owner,)).fetchone()[0]

    def pending_through(self, rowid: int) -> bool:
        """Whether any of our rows up to ``rowid`` is still waiting for an outcome."""
        with self._lock:
            row = self._connection().execute("SELECT 1 FROM spool WHERE owner = ? AND id <= ? LIMIT 1", (self.owner, rowid)).fetchone()
        return row is not None

    def unclaimed(self) -> int:
        with self._lock:
            return self._connection().execute(
                "SELECT COUNT(*) FROM spool WHERE owner = ? AND claimed = 0", (self.owner,)
            ).fetchone()[0]

    @property
    def count(self) -> int:
        """Rows in the file as this process last saw it (all owners)."""
        return self._count

    def __repr__(self) -> str:
        return f"Spool({self.path!r}, rows={self._count})"


# -- fork: no SQLite operation may be in progress while the process forks -----------------

_spools: "weakref.WeakSet[Spool]" = weakref.WeakSet()


def _before_fork() -> None:
    for spool in list(_spools):
        spool._lock.acquire()


def _after_fork_in_parent() -> None:
    for spool in list(_spools):
        spool._lock.release()


def _after_fork_in_child() -> None:
    for spool in list(_spools):
        spool._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
