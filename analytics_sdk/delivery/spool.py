"""The on-disk spool: encoded messages in SQLite until the collector accepts them.

Storage only (no threads): the spool backlog (``spool_writer.py``,
``spool_backlog.py``) decides when to write, claim and delete. One row per message, oldest first:

* ``owner`` is the process that wrote the row: ``pid@host#start:token``, where
  ``start`` is the process start time (Linux, else empty) and ``token`` is random
  per process (new in a fork child). A process sends only its own rows, plus rows
  whose owner process is gone (a crash, SIGKILL, a previous run), which it
  adopts. The token tells a restarted process from its predecessor with the same
  pid (a container's PID 1), the start time a live process from an unrelated one
  that reused the pid. So a fork child never resends its parent's rows and two
  live processes on one file never send the same row.
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
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar

from ..process import around_os_fork, on_fork_child
from .clock import monotonic, time_left
from .spool_open import BoundedOpen

__all__ = ["Spool", "SpoolError", "SpoolBusy", "owner_id"]

T = TypeVar("T")

# How long an operation waits for another connection's write lock. Short: the
# threads that use the spool retry with backoff, and a caller's write must not
# wait behind a long lock wait of theirs (see spool_backlog.py).
BUSY_TIMEOUT = 2.0

# How long a fork child's first open of the spool may take before the spool counts
# as down (its events are then sent from memory). SQLite is not fork-safe: a SQLite
# mutex another parent thread held at the fork is never released in the child.
REOPEN_LIMIT = 5.0


# One statement per group of rows, not one per row (hot-path.md, "The spool").
_ROWS_PER_STATEMENT = 400


class SpoolError(Exception):
    """The spool file cannot be used (corrupt, unreadable, locked)."""


class SpoolBusy(SpoolError):
    """Another thread of this process was using the spool for longer than the caller may wait."""


_token = os.urandom(6).hex()  # this process; a fork child draws its own (_after_fork_in_child)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return fields[19].decode()  # field 22 of stat(5); fields[0] is field 3
    except (OSError, IndexError):
        return ""


def owner_id() -> str:
    """How this process marks the rows it writes (see the module docstring)."""
    pid = os.getpid()
    return f"{pid}@{socket.gethostname()}#{_start_time(pid)}:{_token}"


def _orphaned(owner: str, me: str) -> bool:
    """Whether rows written by ``owner`` belong to a process of this host that has ended."""
    if owner == me:
        return False
    ident, _, incarnation = owner.partition("#")
    pid_text, _, host = ident.partition("@")
    if host != me.partition("#")[0].partition("@")[2] or not pid_text.isdigit():
        return False  # another host's process: we cannot tell whether it lives
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # our pid, another incarnation: a predecessor (restart in a container)
    if not _process_alive(pid):
        return True
    started, now = incarnation.partition(":")[0], _start_time(pid)
    return bool(started and now and started != now)  # the pid now belongs to another process


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class Spool:
    """A bounded FIFO of encoded messages in a SQLite file (WAL mode).

    Operations raise ``sqlite3.Error`` or :class:`SpoolError` when the file cannot
    be used at the moment (full disk, a lock held too long, a lost directory); the
    caller decides whether to retry. A failed transaction is rolled back.
    """

    def __init__(self, path: str, max_messages: int = 1_000_000) -> None:
        self.path = path
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._users: Set[int] = set()  # threads using the spool, or waiting to (see _acquire)
        self._db: Optional[sqlite3.Connection] = None
        self._inherited_connections: List[Optional[sqlite3.Connection]] = []
        self._opening: Optional[BoundedOpen] = None
        self._open()
        _spools.add(self)

    # -- connection ----------------------------------------------------------------

    def _open(self) -> None:
        self.owner = owner_id()
        self._db, self._count = self._connect()

    def _connect(self) -> Tuple[sqlite3.Connection, int]:
        """A new connection to the file, set up, and the file's row count."""
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
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
            return db, db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot use spool file {self.path!r}: {exc}") from exc

    def _reopen(self, deadline: Optional[float]) -> None:
        """(a fork child's first use; our lock not held) Open our own connection on a
        thread of its own, waiting at most until REOPEN_LIMIT after the open began (and
        until ``deadline``). Past the limit, every use raises SpoolError at once (the
        caller sends from memory and retries later) until the open completes, if it ever
        does. Waits without our lock: under gevent the wait lets other greenlets run, and
        one of them must not then block the whole process on a lock made before the patch."""
        with self._locked(deadline):
            if self._db is not None:
                return
            if self._opening is None:
                self._opening = BoundedOpen(self._connect, REOPEN_LIMIT)
            opening = self._opening
        if not opening.wait(deadline):
            if monotonic() < opening.gives_up_at:
                raise SpoolBusy(f"the spool file {self.path!r} is still being opened")
            raise SpoolError(
                f"SQLite has not opened the spool file {self.path!r} in this fork child after "
                f"{monotonic() - opening.started:.1f} s (another thread may have been inside SQLite "
                "when the process forked)"
            )
        with self._locked(deadline):  # (SpoolBusy: _opening stays, the next use takes it over)
            if self._opening is opening:  # the first thread back takes the result over
                self._opening = None
                if opening.error is None:
                    self._db, self._count = opening.result  # type: ignore[misc]
        error = opening.error
        if error is not None:  # (_connect raises SpoolError; a thread that could not start, RuntimeError)
            raise error if isinstance(error, SpoolError) else SpoolError(f"cannot open spool file {self.path!r}: {error}")

    @contextmanager
    def _locked(self, deadline: Optional[float]) -> Iterator[None]:
        self._acquire(time_left(deadline))
        try:
            yield
        finally:
            self._release()

    def _acquire(self, wait: Optional[float]) -> None:
        me = threading.get_ident()
        if me in self._users:  # a signal handler over this thread's own use: it would wait for itself
            raise SpoolBusy("the spool is in use by the code this signal handler interrupted")
        self._users.add(me)  # (before the lock: a handler that interrupts the wait sees it too)
        try:
            acquired = self._lock.acquire(timeout=-1 if wait is None else wait)
        except BaseException:  # KeyboardInterrupt, or a handler's exception, in the wait
            self._users.discard(me)
            raise
        if not acquired:
            self._users.discard(me)
            raise SpoolBusy("the spool is busy")

    def _release(self) -> None:
        self._lock.release()
        self._users.discard(threading.get_ident())

    def in_use_here(self) -> bool:
        """Whether this thread is inside the spool (true in a signal handler that interrupted it there)."""
        return threading.get_ident() in self._users

    def _after_fork_in_child(self) -> None:
        # A child must neither use nor close its parent's connection (closing it
        # would disturb SQLite's per-file lock bookkeeping): keep it, unused. Our
        # own connection is opened on first use, by a background thread, never in
        # this hook: another parent thread may have been inside SQLite at fork
        # time, and the fork must not hang the child's main thread on its mutex.
        self._inherited_connections.append(self._db)
        self._lock = threading.Lock()
        self._users = set()
        self._db = None
        self._opening = None  # (a parent's open in progress has no thread here)
        self.owner = owner_id()

    @contextmanager
    def _using(self, wait: Optional[float] = None) -> Iterator[sqlite3.Connection]:
        """The connection, under our lock. ``wait`` bounds the whole wait: for the
        first open after fork, for our lock and for another connection's (for a
        caller's thread)."""
        deadline = None if wait is None else monotonic() + wait
        if self._db is None:  # first use after fork
            self._reopen(deadline)
            wait = time_left(deadline)
        # (no nested context manager here: with spool_sync this runs on every call's thread)
        self._acquire(wait)
        try:
            db = self._db
            assert db is not None
            if deadline is None:
                yield db
                return
            left = max(0.0, deadline - monotonic())
            db.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
            try:
                yield db
            finally:
                db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        finally:
            self._release()

    @staticmethod
    def _transaction(db: sqlite3.Connection, work: Callable[[], T]) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            db.execute("COMMIT")
            return result
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (e.g. a full disk)
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def close(self) -> None:
        with self._locked(None):
            if self._db is not None:
                self._db.close()

    # -- operations -------------------------------------------------------------------

    def append(self, items: Sequence[bytes], wait: Optional[float] = None) -> int:
        """Write messages in one transaction; returns how many fitted under the limit."""
        with self._using(wait) as db:
            room = max(0, self.max_messages - self._count)
            accepted = list(items[:room])
            if accepted:
                self._transaction(db, lambda: self._insert(db, accepted))
                self._count += len(accepted)
            return len(accepted)

    def _insert(self, db: sqlite3.Connection, items: List[bytes]) -> None:
        for start in range(0, len(items), _ROWS_PER_STATEMENT):
            chunk = items[start : start + _ROWS_PER_STATEMENT]
            values = ",".join(["(?, ?)"] * len(chunk))
            params = [value for body in chunk for value in (self.owner, body)]
            db.execute(f"INSERT INTO spool (owner, body) VALUES {values}", params)

    def adopt_orphans(self) -> int:
        """Take over rows written on this host by processes that no longer exist."""
        with self._using() as db:
            owners = [row[0] for row in db.execute("SELECT DISTINCT owner FROM spool WHERE owner != ?", (self.owner,))]
            dead = [owner for owner in owners if _orphaned(owner, self.owner)]
            adopted = 0
            for owner in dead:
                cursor = db.execute("UPDATE spool SET owner = ?, claimed = 0 WHERE owner = ?", (self.owner, owner))
                adopted += cursor.rowcount
            self._count = db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]
            return adopted

    def claim(self, max_count: int) -> List[Tuple[int, bytes]]:
        """Mark up to ``max_count`` of our oldest unclaimed rows as being sent."""

        def work() -> List[Tuple[int, bytes]]:
            rows = db.execute(
                "SELECT id, body FROM spool WHERE owner = ? AND claimed = 0 ORDER BY id LIMIT ?",
                (self.owner, max_count),
            ).fetchall()
            if rows:
                self._update_ids(db, "UPDATE spool SET claimed = 1", [row[0] for row in rows])
            return rows

        with self._using() as db:
            rows = self._transaction(db, work)
        return [(rowid, bytes(body)) for rowid, body in rows]

    def release(self, rowids: Sequence[int]) -> None:
        """Give claimed rows back (sent next time); used when a deadline stops a send."""
        with self._using() as db:
            self._update_ids(db, "UPDATE spool SET claimed = 0", rowids)

    def delete(self, rowids: Sequence[int]) -> None:
        """Forget rows that reached a final outcome (delivered or reported)."""
        with self._using() as db:
            self._transaction(db, lambda: self._update_ids(db, "DELETE FROM spool", rowids))
            self._count -= len(rowids)

    @staticmethod
    def _update_ids(db: sqlite3.Connection, statement: str, rowids: Sequence[int]) -> None:
        for start in range(0, len(rowids), _ROWS_PER_STATEMENT):
            chunk = list(rowids[start : start + _ROWS_PER_STATEMENT])
            db.execute(f"{statement} WHERE id IN ({','.join(['?'] * len(chunk))})", chunk)

    def last_id(self, wait: Optional[float] = None) -> int:
        with self._using(wait) as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM spool WHERE owner = ?", (self.owner,)).fetchone()[0]

    def pending_through(
        self, rowid: int, finished: Set[int] = frozenset(), wait: Optional[float] = None  # type: ignore[assignment]
    ) -> bool:
        """Whether any of our rows up to ``rowid`` is still waiting for an outcome
        (``finished``: rows that reached one but could not be deleted yet)."""
        with self._using(wait) as db:
            rows = db.execute(
                "SELECT id FROM spool WHERE owner = ? AND id <= ? ORDER BY id LIMIT ?", (self.owner, rowid, len(finished) + 1)
            ).fetchall()
        return any(row[0] not in finished for row in rows)

    def unclaimed(self, wait: Optional[float] = None) -> int:
        with self._using(wait) as db:
            return db.execute("SELECT COUNT(*) FROM spool WHERE owner = ? AND claimed = 0", (self.owner,)).fetchone()[0]

    @property
    def count(self) -> int:
        """Rows in the file as this process last saw it (all owners; in a fork child,
        the parent's count until the child's own connection is open)."""
        return self._count

    def __repr__(self) -> str:
        return f"Spool({self.path!r}, rows={self._count})"


# -- fork: no SQLite operation may be in progress while the process forks -----------------

_spools: "weakref.WeakSet[Spool]" = weakref.WeakSet()


_guards_held: List[Any] = []  # opening threads' guards this fork waited for


def _before_fork() -> None:
    for spool in list(_spools):
        spool._lock.acquire()
    for spool in list(_spools):  # (no new open starts: each begins under its spool's lock)
        opening = spool._opening
        if opening is not None and not opening.done:
            left = opening.gives_up_at - monotonic()  # past it, the open is stuck: nothing to wait for
            if left > 0 and opening.guard.acquire(timeout=left):
                _guards_held.append(opening.guard)


def _after_fork_in_parent() -> None:
    while _guards_held:
        _guards_held.pop().release()
    for spool in list(_spools):
        spool._lock.release()


def _after_fork_in_child() -> None:
    global _token
    _token = os.urandom(6).hex()
    _guards_held.clear()  # (the parent's opening threads do not exist here)
    for spool in list(_spools):
        spool._after_fork_in_child()


around_os_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)  # (a fork made in C takes no turn here)
on_fork_child(_after_fork_in_child)
