"""The worker thread and bounded queue of one destination plugin.

It looks like a consumer to the process hooks (exit delivery, fork
re-initialisation) and to the client's ``flush``/``shutdown``: every message
handed to the plugin before a flush has been executed (or reported) when the
flush returns True.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Deque, Dict, List, Optional

from ..wire.base import Destination
from ..process import check as check_fork
from .callbacks import in_user_code, user_code
from .clock import FOREVER, MAX_WAIT, monotonic
from .fork_reinit import track_worker
from .outcomes import Outcomes
from .reentry import cannot_wait, wait_unless_reentered
from .threads import remake_lock_if_patched

__all__ = ["PluginWorker"]

log = logging.getLogger("analytics_sdk")


class PluginTarget(Destination):
    """Names a destination plugin in stats and errors; its events are canonical JSON."""

    def __init__(self, name: str) -> None:
        self.name = name

    def message_id(self, event: Any) -> None:
        # Per-call callbacks count destinations only: a plugin's outcome must not use one up.
        return None


class PluginWorker:
    def __init__(self, plugin: Any, outcomes: Outcomes, max_queue_size: int) -> None:
        self.plugin = plugin
        self.outcomes = outcomes
        self.max_queue_size = max_queue_size
        self._init_state()
        track_worker(self)

    def _init_state(self) -> None:
        self.make_locks()
        self._queue: Deque[bytes] = collections.deque()
        self._from_handlers: Deque[bytes] = collections.deque()  # put() by a signal handler over put()
        self.enqueued = 0
        self._done = 0
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._removed = False
        self._plugin_shut = False
        self._deadline: Optional[float] = None

    def make_locks(self) -> None:
        self.lock_type = threading.Lock  # gevent/eventlet replace it when they patch (see put)
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)

    def after_fork_in_child(self) -> None:
        closed = self._closed
        self._init_state()
        self._closed = closed
        self.outcomes.after_fork()

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> bool:
        return self._done < self.enqueued

    def put(self, item: bytes) -> Optional[str]:
        """Queue one message (canonical JSON bytes); the refusal reason, or None."""
        check_fork()  # forked behind Python's back: the lock and thread are the parent's
        lock = self.lock
        if not lock.acquire(False) and not wait_unless_reentered(lock, self):  # (see reentry.py)
            if self._closed:
                return "client_closed"
            self._from_handlers.append(item)  # taken in when the interrupted code lets go of the lock
            return None
        try:
            if self._closed:
                return "client_closed"
            if len(self._queue) >= self.max_queue_size:
                return "queue_full"
            self._queue.append(item)
            self.enqueued += 1
            patched = self.lock_type is not threading.Lock
            if self._thread is None and not patched:
                self._start()
            self._changed.notify_all()
        finally:
            if self._from_handlers:  # (checked here: no call per event for the rare case)
                self._take_in_from_handlers()
            lock.release()
        if patched:
            self._start_after_monkey_patch()
        return None

    def _start_after_monkey_patch(self) -> None:
        """gevent or eventlet patched threading since the lock was made (gunicorn
        --preload): remake it before the thread starts (threads.py says why)."""
        with self.lock:
            remake_lock_if_patched(self, self._thread is not None)
        with self.lock:
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="analytics_sdk-plugin", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: finish_shutdown runs inline
            return
        self._thread = thread

    def _take_in_from_handlers(self) -> None:
        """(lock held) Queue what signal handlers put while this thread held the lock."""
        if not self._from_handlers:
            return
        while self._from_handlers:
            self._queue.append(self._from_handlers.popleft())
            self.enqueued += 1
        self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self.lock:
                self._take_in_from_handlers()
                while not self._queue:
                    if self._closed:
                        self._thread = None
                        removed = self._removed
                        break
                    self._changed.wait()
                else:
                    item = self._queue.popleft()
                    removed = None
            if removed is None:
                self._execute(item)
                continue
            if removed:
                self._shutdown_plugin()
            return

    def _execute(self, item: bytes) -> None:
        target = self.outcomes.destination
        event: Dict[str, Any] = target.event(item) if target is not None else {}
        try:
            with user_code():
                self.plugin.execute(event)  # user code: no lock held
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, never fatal
            self.outcomes.drop("plugin_error", [item], f"{type(exc).__name__}: {exc}")
        else:
            self.outcomes.delivered([item])
        with self.lock:
            self._done += 1
            self._changed.notify_all()
            self._take_in_from_handlers()

    def _wait(self, target: int, deadline: float) -> bool:
        with self.lock:
            try:
                while self._done < target:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(min(remaining, MAX_WAIT))
                return True
            finally:
                self._take_in_from_handlers()

    def flush(self, timeout: Optional[float] = None) -> bool:
        if in_user_code() or cannot_wait("flush"):
            # From a plugin, a callback, or a signal handler over our code: waiting could wait for ourselves.
            return self._done >= self.enqueued
        deadline = FOREVER if timeout is None else monotonic() + timeout
        return self._wait(self.enqueued, deadline)

    def begin_shutdown(self, deadline: float) -> None:
        with self.lock:
            self._take_in_from_handlers()
            self._closed = True
            self._deadline = deadline
            self._changed.notify_all()

    def finish_shutdown(self, deadline: float) -> bool:
        if in_user_code():
            return False
        if self._thread is None:  # never started, or too late to start one (interpreter exit): run here
            while monotonic() < deadline:
                with self.lock:
                    if not self._queue:
                        break
                    item = self._queue.popleft()
                self._execute(item)
        done = self._wait(self.enqueued, deadline)
        with self.lock:
            stranded: List[bytes] = list(self._queue)
            self._queue.clear()
            self._done += len(stranded)
        if stranded:
            self.outcomes.drop("shutdown_timeout", stranded, "the plugin had not taken them by the shutdown deadline")
        self._shutdown_plugin()
        return done and not stranded

    def _shutdown_plugin(self) -> None:
        with self.lock:
            if self._plugin_shut:
                return
            self._plugin_shut = True
        try:
            self.plugin.shutdown()
        except Exception:  # noqa: BLE001 - user code: logged, never fatal
            log.exception("analytics_sdk: plugin shutdown() raised; ignoring")

    def stop(self) -> None:
        """Removed from its client: take nothing new, finish what is queued, then
        call the plugin's ``shutdown()`` (on the worker thread, never the caller's)."""
        with self.lock:
            self._closed = True
            self._removed = True
            idle = self._thread is None
            self._changed.notify_all()
        if idle:
            self._shutdown_plugin()
