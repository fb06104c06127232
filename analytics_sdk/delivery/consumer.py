"""The delivery engine of one destination: a backlog, uploader threads, flush and shutdown.

Threads and I/O live here and in the modules this one drives. The caller's
``put`` queues an encoded event (``bytes``) in memory; a backlog
(:mod:`~analytics_sdk.delivery.backlog`: the memory one, or the SQLite spool)
hands uploader threads a request's worth at a time; the uploader loop
(``uploader.py``) sends it and applies the destination's reply. Flush
bookkeeping is in ``progress.py``, the batching policy in ``linger.py``, held
events in ``holds.py``, exit and fork hooks in ``exit_delivery.py`` and
``fork_reinit.py``. The reasons behind the hot path's shape:
docs/architecture/hot-path.md.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from typing import Any, Deque, List, Optional

from ..wire.base import Destination
from ..process import check as check_fork
from ..process import forked as forked_behind_python
from . import prefork
from .backlog import Backlog, MemoryBacklog
from .callbacks import in_user_code
from .clock import FOREVER, MAX_WAIT, hand_over_gil, monotonic
from .holds import Holds
from .exit_delivery import exit_delivery_started, exit_timeout_of, register_exit_timeout
from .fork_reinit import track_worker
from .linger import BACKLOG_LINGER, Batcher
from .outcomes import Outcomes
from .progress import InFlight, Part, Progress
from .reentry import cannot_wait, interrupts_the_sdk, wait_unless_reentered
from .retry import RetryPolicy
from .shutdown import Shutdown
from .threads import Starter
from .uploader import REPORT_GRACE, Uploader

__all__ = ["Consumer", "BACKLOG_LINGER", "REPORT_GRACE"]

log = logging.getLogger("analytics_sdk")


class Consumer:
    """Queue plus uploader threads for one destination of one client.

    The attributes without an underscore (lock, conditions, queue, progress, holds,
    flags) are shared with its backlog, batcher and uploader, always under ``lock``.
    """

    def __init__(
        self,
        destination: Destination,
        transport: Any,
        outcomes: Outcomes,
        *,
        max_queue_size: int = 10000,
        upload_size: int = 100,
        backlog_upload_size: int = 1000,
        upload_interval: float = 0.5,
        threads: int = 1,
        retry_policy: RetryPolicy = RetryPolicy(),
        max_batch_bytes: Optional[int] = None,
        backlog: Optional[Backlog] = None,
    ) -> None:
        self.destination = destination
        self.transport = transport
        self.outcomes = outcomes
        self.max_queue_size = max_queue_size
        self.half_full = (max_queue_size + 1) // 2  # an uploader waiting for a full request stops here
        self.upload_size = min(upload_size, destination.max_events_per_request)
        # With more than a request's worth queued, fewer and fuller requests (still
        # within the destination's byte limit): hot-path.md, "Fewer, fuller requests".
        self.backlog_upload_size = min(max(upload_size, backlog_upload_size), destination.max_events_per_request)
        self.upload_interval = upload_interval
        self.thread_count = threads
        self.retry_policy = retry_policy
        self.max_batch_bytes = max_batch_bytes or destination.max_request_bytes
        self.envelope = destination.envelope_bytes
        self.tokens = itertools.count()
        self.backlog: Backlog = backlog if backlog is not None else MemoryBacklog()
        self.batcher = Batcher(self)
        self.uploader = Uploader(self)
        self.stopper = Shutdown(self)
        self.starter = Starter(self)
        self.backlog.bind(self)
        self._init_state()
        track_worker(self)
        self.backlog.open()

    # -- state ---------------------------------------------------------------

    def _init_state(self) -> None:
        """Fresh lock, queue and thread list (at construction and in a fork child)."""
        self.make_locks()
        self.queue = self.backlog.new_queue()
        self.progress = Progress()
        self.holds = Holds()  # held records (a throttled user's events), by due time
        self.threads: List[threading.Thread] = []
        self.flush_target = 0
        self._closed = False
        self.stopping = False
        self.gave_up = False  # a shutdown stopped waiting and reported what was in flight
        self.deadline: Optional[float] = None
        self.deferred = False  # queued in a uWSGI master, with no uploader: see prefork.py
        self.from_handlers: Deque[bytes] = collections.deque()  # put() by a signal handler: see reentry.py
        self.starter.taken_backlog = False
        self.uploader.reset()
        self.backlog.reset()

    def make_locks(self) -> None:
        """The lock and its conditions, of the kind ``threading`` makes now."""
        self.lock_type = threading.Lock  # gevent/eventlet replace it when they patch (see threads.py)
        self.lock = threading.Lock()
        self.not_empty = threading.Condition(self.lock)
        self.not_full = threading.Condition(self.lock)
        self.changed = threading.Condition(self.lock)  # resolutions, shutdown
        self.backlog.made_lock(self.lock)

    def after_fork_in_child(self) -> None:
        # The parent's queued messages are the parent's to send (but for a uWSGI
        # master's backlog, which one child takes over); its threads do not exist
        # here, and its lock may have been held by one of them.
        closed = self._closed
        backlog = self.queue if self.deferred and prefork.took_backlog() else None
        self._init_state()
        self._closed = closed
        if backlog:
            self.starter.take_over(backlog)  # (its uploaders start once every reset ran: start_taken_backlog)
        self.outcomes.after_fork()
        self.transport.reset()

    def start_taken_backlog(self) -> None:
        """(fork child, every reset done) Send a uWSGI master's events without waiting
        for this process's first call."""
        self.starter.start_taken_backlog()

    def reconfigure(
        self,
        *,
        upload_size: Optional[int] = None,
        upload_interval: Optional[float] = None,
        retry_policy: Optional[RetryPolicy] = None,
        max_queue_size: Optional[int] = None,
    ) -> None:
        """Change settings of a running consumer (``analytics_sdk.amplitude`` applies its
        Config this way). Requests already made keep their retry history."""
        with self.lock:
            if upload_size is not None:
                self.upload_size = min(upload_size, self.destination.max_events_per_request)
            if upload_interval is not None:
                self.upload_interval = upload_interval
            if retry_policy is not None:
                self.retry_policy = retry_policy
            if max_queue_size is not None:
                self.max_queue_size = max_queue_size
                self.half_full = (max_queue_size + 1) // 2
            self.not_empty.notify_all()  # a lingering uploader re-reads its targets
            self.not_full.notify_all()

    @property
    def depth(self) -> int:
        return len(self.queue)

    @property
    def enqueued(self) -> int:
        return self.progress.enqueued

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def spool(self) -> Any:
        """The :class:`~analytics_sdk.delivery.spool.Spool` its events wait in, or None
        (in memory). ``stats()`` reports its ``spool_depth``."""
        return getattr(self.backlog, "spool", None)

    @property
    def pending(self) -> bool:
        """Whether anything still waits for an outcome (queued, in flight or held)."""
        return bool(self.queue) or not self.progress.done(self.progress.enqueued)

    # -- caller side -----------------------------------------------------------

    def put(self, item: bytes, wait: float = 0.0) -> Optional[str]:
        """Queue one encoded event. Returns None, or the drop reason if refused.

        (A spool backlog puts its own ``put`` in front of this one: see backlog.py.)"""
        if forked_behind_python():  # forked behind Python's back (uWSGI): our lock and threads are the parent's
            check_fork()
        too_late = False
        lock = self.lock
        # (uncontended: no more than ``with lock``)
        if not lock.acquire(False) and not wait_unless_reentered(lock, self):
            if self._closed:
                return "client_closed"
            self.from_handlers.append(item)  # taken in when the interrupted code lets go of the lock
            return None
        try:
            if self._closed:
                return "client_closed"
            refused = self.backlog.refusal()
            if refused is not None:
                return refused
            queue = self.queue
            depth = len(queue)  # (read once: a Python __len__; no uploader takes while we hold the lock)
            if depth >= self.max_queue_size:
                if wait <= 0 or not self._wait_for_room(wait):
                    return "queue_full" if not self._closed else "client_closed"
                queue, depth = self.queue, len(self.queue)
            batch_ready = queue.append(item)  # a request's worth is ready (see MemoryBacklog.new_queue)
            depth += 1
            self.progress.enqueued += 1
            if not self.threads:
                # After our exit hook a new daemon thread dies with Python (3.13) or never starts (3.12).
                too_late = exit_delivery_started()
                if not too_late:
                    if self.starter.start():
                        too_late = not self.threads and not self.deferred
                    else:
                        batch_ready = True  # patched since the lock was made: start them below (threads.py)
            # Wake an idle uploader, or one lingering for a full batch. A busy one looks at the
            # queue before it waits again: notifying it on every call would cost each call.
            batch_ready = batch_ready or depth == self.upload_size
            if depth == 1 or batch_ready or depth == self.half_full:  # see linger.py
                self.not_empty.notify()
        finally:
            if self.from_handlers:
                self.take_in_from_handlers()
            lock.release()
        if batch_ready:
            if self.lock_type is not threading.Lock:
                self.starter.start_after_monkey_patch()
            hand_over_gil()  # hot-path.md, "Handing the GIL over"
        if too_late:
            self.backlog.send_at_exit()
        return None

    def take_in_from_handlers(self) -> None:
        """(lock held) Queue what signal handlers put while this thread held the lock."""
        while self.from_handlers:
            self.queue.append(self.from_handlers.popleft())
            self.progress.enqueued += 1
        self.not_empty.notify()

    def _wait_for_room(self, wait: float) -> bool:
        deadline = monotonic() + wait
        while len(self.queue) >= self.max_queue_size and not self._closed:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return False
            self.not_full.wait(min(remaining, MAX_WAIT))
        return not self._closed

    def send_now(self, item: bytes) -> bool:
        """sync_mode: deliver one event on the caller's thread, with the retry policy."""
        check_fork()
        if interrupts_the_sdk():  # a signal handler over our code: sending here could wait for that code
            register_exit_timeout(self, exit_timeout_of(self))  # (the queue: an uploader sends it, or the exit)
            return self.put(item) is None
        with self.lock:
            self.progress.enqueued += 1
            self.progress.dequeued += 1
        record = InFlight(first_seq=-1, parts=[Part([item])], hold_inline=True)  # the caller waits for its own event
        return self.uploader.deliver(record) == 1

    # -- uploader side (shared with the backlog) ---------------------------------

    def past_deadline(self) -> bool:
        return self.deadline is not None and monotonic() >= self.deadline

    def release(self, token: int) -> None:
        with self.lock:
            self.progress.in_flight.pop(token, None)
            self.changed.notify_all()

    def wait_done(self, target: int, deadline: float) -> bool:
        """Wait (lock held) until everything before ``target`` is finished."""
        while not self.progress.done(target):
            remaining = deadline - monotonic()
            if remaining <= 0:
                return False
            self.changed.wait(min(remaining, MAX_WAIT))
        return True

    # -- flush and shutdown -------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait for what was queued before this call to reach an outcome; True if it did
        in time. ``timeout=None`` waits as long as that takes (the retry policy's time
        budget bounds it)."""
        deadline = FOREVER if timeout is None else monotonic() + timeout
        if cannot_wait("flush"):  # a signal handler over our code: what it waits for may wait for that code
            return not self.from_handlers and self.backlog.done_without_waiting(self.progress.enqueued)
        with self.lock:
            if self.from_handlers:
                self.take_in_from_handlers()
            target = self.progress.enqueued
            if in_user_code():
                # Called from on_error, a callback or a plugin (on one of our threads):
                # waiting could wait for ourselves, or for another SDK thread that waits for us.
                return self.backlog.done_without_waiting(target)
            self.flush_target = max(self.flush_target, target)
            self.not_empty.notify_all()  # stop lingering for a fuller batch: a flush wants it now
            self.backlog.wake()
            has_work = bool(self.queue) or bool(self.holds) or self.backlog.has_work()
            restart = not self.starter.alive() and has_work
            if restart:
                self.threads = []
                restart = not self.starter.start()
            inline = self.deferred
        if restart:
            self.starter.start_after_monkey_patch()
        if inline:  # no uploader may run here (prefork.py): the caller's thread sends
            self.uploader.drain_inline()
        return self.backlog.wait_flushed(target, deadline)

    def begin_shutdown(self, deadline: float) -> None:
        """Refuse new messages; let uploaders drain and exit; bound retries by ``deadline``."""
        with self.lock:
            if self.from_handlers:
                self.take_in_from_handlers()
            self._closed = True
            self.stopping = True
            if self.deadline is None or deadline < self.deadline:
                self.deadline = deadline
            self.not_empty.notify_all()
            self.not_full.notify_all()
            self.changed.notify_all()
            self.backlog.wake()

    def finish_shutdown(self, deadline: float) -> bool:
        """Wait for the drain until ``deadline``; report whatever could not be sent."""
        return self.stopper.finish(deadline)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        if cannot_wait("shutdown"):  # (as Client.shutdown; the mParticle drop-in's background lane)
            return False
        deadline = FOREVER if timeout is None else monotonic() + timeout
        self.begin_shutdown(deadline)
        return self.finish_shutdown(deadline)
