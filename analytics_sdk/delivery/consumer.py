"""The bounded queue and uploader threads of one destination.

Threads and I/O live here (and in spooled.py, the disk-backed variant). It holds
encoded events (``bytes``), hands count- and byte-bounded batches to a transport,
asks the destination what each response means (a ``Reply``), and acts on that:
deliver, retry with backoff, split, drop with a reason, or hold some events back
(a throttled user) while others keep flowing. Every terminal outcome goes through
:class:`~analytics_sdk.delivery.outcomes.Outcomes`. Flush bookkeeping is in
``progress.py``; exit and fork hooks in ``lifecycle.py``.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
from typing import Any, Deque, List, Optional, Sequence, Tuple

from ..destinations.base import Destination
from ..destinations.reply import Action, Reply, parse_retry_after
from ..process import check as check_fork
from ..process import forked as _forked
from .runs import RunQueue
from . import prefork
from .callbacks import in_user_code
from .lifecycle import exit_delivery_started, exit_timeout_of, track_worker
from .outcomes import Outcomes
from .reentry import in_signal_handler_over
from .progress import InFlight, Part, Progress
from .replies import resolve
from .retry import RetryPolicy

__all__ = ["Consumer"]

log = logging.getLogger("analytics_sdk")

_monotonic = time.monotonic  # (never patched by gevent or eventlet; time.sleep is: looked up at use, green.py)
_FOREVER = float("inf")
_MAX_WAIT = 3600.0  # Condition.wait() refuses huge timeouts; longer waits loop
BACKLOG_LINGER = 0.05  # seconds an uploader waits for a full request under heavy traffic
REPORT_GRACE = 1.0  # seconds past a shutdown deadline for reports an uploader is making (finish_shutdown)
# _GIL_NOTE: with CPython's GIL, whatever Python the uploader runs is time the
# application's threads wait: each time the uploader takes the GIL, one call
# stalls for the uploader's turn. So it takes it as few times as it can: a full
# request at a time under heavy traffic (_linger_for_batch) and 3 GIL releases per
# request (http11). The caller hands it over (time.sleep(0) releases it at once)
# when a run completes, so a lingering uploader starts at once instead of waiting
# for the 5 ms switch interval. This keeps up with a caller in a tight loop: the
# drain at flush() is a few ms, and no call is refused for a full default queue
# (README, "Performance", with the figures and what the tail still costs).


class Consumer:
    """Queue plus uploader threads for one destination of one client."""

    # Held-back events (a throttled user) wait in a list of their own, so the
    # uploader keeps sending other events meanwhile. The spool variant keeps them
    # claimed on disk instead and waits inline.
    defer_holds = True

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
    ) -> None:
        self.destination = destination
        self.transport = transport
        self.outcomes = outcomes
        self.max_queue_size = max_queue_size
        self._half_full = (max_queue_size + 1) // 2  # an uploader waiting for a full request stops here
        self.upload_size = min(upload_size, destination.max_events_per_request)
        # With more than a request's worth queued, fewer and fuller requests (still
        # within the destination's byte limit): per-request CPU is the uploader's
        # main cost, and it is GIL time the application waits for.
        self.backlog_upload_size = min(max(upload_size, backlog_upload_size), destination.max_events_per_request)
        self.upload_interval = upload_interval
        self.thread_count = threads
        self.retry_policy = retry_policy
        self.max_batch_bytes = max_batch_bytes or destination.max_request_bytes
        self._envelope = destination.envelope_bytes
        self._tokens = itertools.count()
        self._init_state()
        track_worker(self)

    # -- state ---------------------------------------------------------------

    def _init_state(self) -> None:
        """Fresh lock, queue and thread list (at construction and in a fork child)."""
        self._make_locks()
        self._queue = self._new_queue()
        self._progress = Progress()
        self._held: List[Tuple[float, int]] = []  # heap of (due, token) of held records
        self._threads: List[threading.Thread] = []
        self._flush_target = 0
        self._reporting = 0  # uploaders reporting outcomes of events they took off a record
        self._awaiting_reports = False  # a shutdown waits for them (_wait_for_reports)
        self._stopping = False
        self._closed = False
        self._gave_up = False  # a shutdown stopped waiting and reported what was in flight
        self._deadline: Optional[float] = None
        self._deferred = False  # queued in a uWSGI master, with no uploader: see prefork.py
        self._taken_backlog = False  # this fork child took such a master's events over
        self._from_handlers: Deque[bytes] = collections.deque()  # put() by a signal handler: see reentry.py

    def _make_locks(self) -> None:
        """The lock and its conditions, of the kind ``threading`` makes now."""
        self._lock_type = threading.Lock  # gevent/eventlet replace it when they patch (see _start_threads)
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._changed = threading.Condition(self._lock)  # resolutions, shutdown

    def _new_queue(self) -> Any:
        """The queue: ``append(item)`` says whether a request's worth is now ready.

        Runs up to the backlog size: while the uploader is busy, events gather into
        full requests; when it is idle it takes a run at upload_size (see _take_batch)."""
        return RunQueue(self.backlog_upload_size, self.max_batch_bytes - self._envelope)

    def _take_from_queue(self) -> Sequence[bytes]:
        """(lock held) The next request's events: the oldest run, whole."""
        return self._queue.take()

    def after_fork_in_child(self) -> None:
        # The parent's queued messages are the parent's to send (but for a uWSGI
        # master's backlog, which one child takes over); its threads do not exist
        # here, and its lock may have been held by one of them.
        closed = self._closed
        backlog = self._queue if self._deferred and prefork.took_backlog() else None
        self._init_state()
        self._closed = closed
        if backlog:
            self._take_over(backlog)  # (its uploaders start once every reset ran: start_taken_backlog)
        self.outcomes.after_fork()
        self.transport.reset()

    def _take_over(self, backlog: Any) -> None:
        """(fork child, no other thread yet) Queue a uWSGI master's events here."""
        for item in list(backlog):
            self._queue.append(item)
            self._progress.enqueued += 1
        self._taken_backlog = True

    def start_taken_backlog(self) -> None:
        """(fork child, every reset done) Send a uWSGI master's events without waiting
        for this process's first call."""
        with self._lock:
            if self._taken_backlog and not self._threads and not self._closed:
                self._taken_backlog = False
                self._start_threads()

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
        with self._lock:
            if upload_size is not None:
                self.upload_size = min(upload_size, self.destination.max_events_per_request)
            if upload_interval is not None:
                self.upload_interval = upload_interval
            if retry_policy is not None:
                self.retry_policy = retry_policy
            if max_queue_size is not None:
                self.max_queue_size = max_queue_size
                self._half_full = (max_queue_size + 1) // 2
            self._not_empty.notify_all()  # a lingering uploader re-reads its targets
            self._not_full.notify_all()

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def enqueued(self) -> int:
        return self._progress.enqueued

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> bool:
        """Whether anything still waits for an outcome (queued, in flight or held)."""
        return bool(self._queue) or not self._progress.done(self._progress.enqueued)

    # -- caller side -----------------------------------------------------------

    def put(self, item: bytes, wait: float = 0.0) -> Optional[str]:
        """Queue one encoded event. Returns None, or the drop reason if refused."""
        if _forked():  # forked behind Python's back (uWSGI): our lock and threads are the parent's
            check_fork()
        too_late = False
        lock = self._lock
        if not lock.acquire(False):  # (uncontended: no more than ``with lock``)
            if in_signal_handler_over(self):
                if self._closed:
                    return "client_closed"
                self._from_handlers.append(item)  # taken in when the interrupted code lets go of the lock
                return None
            lock.acquire()
        try:
            refused = self._refusal()
            if refused is not None:
                return refused
            if len(self._queue) >= self.max_queue_size:
                if wait <= 0 or not self._wait_for_room(wait):
                    return "queue_full" if not self._closed else "client_closed"
            queue = self._queue
            batch_ready = queue.append(item)  # a request's worth is ready (see _new_queue)
            self._progress.enqueued += 1
            if not self._threads:
                # After our exit hook, a new daemon thread would die with the interpreter
                # (3.13), or may not start at all (3.12): the caller's thread sends.
                too_late = exit_delivery_started()
                if not too_late:
                    if self._start_threads():
                        too_late = not self._threads and not self._deferred
                    else:
                        batch_ready = True  # patched since the lock was made: start them below (_start_threads)
            depth = len(queue)
            # Wake an idle uploader, or one lingering for a full batch. A busy one looks
            # at the queue before it waits again, so notifying it on every call of a
            # backlog would cost each of those calls for nothing.
            batch_ready = batch_ready or depth == self.upload_size
            if depth == 1 or batch_ready or depth == self._half_full:  # see _linger_for_batch
                self._not_empty.notify()
        finally:
            if self._from_handlers:
                self._take_in_from_handlers()
            lock.release()
        if batch_ready:
            if self._lock_type is not threading.Lock:
                self._start_after_monkey_patch()
            time.sleep(0)  # hand the uploader the GIL now: see _GIL_NOTE (gevent/eventlet: their sleep)
        if too_late:
            self._send_at_shutdown()
        return None

    def _take_in_from_handlers(self) -> None:
        """(lock held) Queue what signal handlers put while this thread held the lock."""
        while self._from_handlers:
            self._queue.append(self._from_handlers.popleft())
            self._progress.enqueued += 1
        self._not_empty.notify()

    def _refusal(self) -> Optional[str]:
        """(lock held) Why a new message cannot be accepted at all, or None."""
        return "client_closed" if self._closed else None

    def _wait_for_room(self, wait: float) -> bool:
        deadline = _monotonic() + wait
        while len(self._queue) >= self.max_queue_size and not self._closed:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                return False
            self._not_full.wait(min(remaining, _MAX_WAIT))
        return not self._closed

    def _send_at_shutdown(self) -> None:
        """The interpreter refuses new threads (an atexit handler of the application's
        that runs after ours, on Python 3.12+): send on the caller's thread, within the
        exit deadline, and report what could not be sent."""
        if in_user_code():
            return
        with self._lock:
            if self._deadline is None:
                self._deadline = _monotonic() + exit_timeout_of(self)
        self._drain_inline()
        with self._lock:
            stranded = list(self._queue)
            self._progress.dequeued += len(stranded)
            self._queue.clear()
        if stranded:
            self.outcomes.drop("shutdown_timeout", stranded, "still queued when the exit deadline passed")

    def _start_threads(self) -> bool:
        """(lock held) Start the uploaders. Returns False, starting none, when gevent or
        eventlet patched threading after the lock was made (gunicorn --preload): the
        caller then calls _start_after_monkey_patch() once it released the lock."""
        if self._lock_type is not threading.Lock:
            return False
        self._start_uploaders()
        return True

    def _start_after_monkey_patch(self) -> None:
        """Remake the lock and conditions of the patched kind, then start the uploaders.

        ``Thread.start()`` switches greenlets while the caller holds our lock, and a
        greenlet that then asks for a lock of the blocking kind stops the whole
        process (green.py). The lock is remade only while no uploader lives (a fork
        child has none): one started before the patch waits on the old conditions."""
        with self._lock:
            if self._lock_type is not threading.Lock:
                if any(thread.is_alive() for thread in self._threads):
                    self._lock_type = threading.Lock  # theirs stays (tracking before the patch: see green.py)
                else:
                    self._make_locks()
        with self._lock:
            if not self._threads:
                self._start_threads()

    def _start_uploaders(self) -> None:
        if prefork.threads_unsafe():  # (only until the first thread: put() checks _threads first)
            self._deferred = True
            prefork.hand_over_backlog()
            return
        prefork.warn_if_threads_starve()
        for _ in range(self.thread_count):
            thread = threading.Thread(target=self._run, name="analytics_sdk-uploader", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: shutdown() drains inline
                return
            self._threads.append(thread)

    def send_now(self, item: bytes) -> bool:
        """sync_mode: deliver one event on the caller's thread, with the retry policy."""
        check_fork()
        with self._lock:
            self._progress.enqueued += 1
            self._progress.dequeued += 1
        record = InFlight(first_seq=-1, parts=[Part([item])])
        return self._deliver(record, defer_holds=False) == 1  # the caller waits for its own event

    # -- uploader side ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            token = next(self._tokens)
            record = self._take_batch(token, linger=True)
            if record is None:
                return
            try:
                self._deliver(record)
            except BaseException:  # noqa: BLE001 - the uploader must never die (sys.exit() in on_error too)
                log.exception("analytics_sdk: unexpected error in the uploader")
                self._report_abandoned(record, "rejected", "internal error in the uploader")
            finally:
                self._release(record.token)  # a held record comes back under its own token

    def _take_batch(self, token: int, linger: bool) -> Optional[InFlight]:
        """Block for events; take a due held record or up to one batch. None when stopping and empty.

        Lingers up to ``upload_interval`` for a full batch, unless a flush or a
        shutdown wants the messages now. Lingering messages stay in the queue, so
        callers are not woken per message and ``flush`` sees them as pending.
        """
        with self._lock:
            if self._from_handlers:
                self._take_in_from_handlers()
            queue = self._queue
            while True:
                held = self._pop_due_hold()  # first: held events must not starve behind new traffic
                if held is not None:
                    return held
                if queue:
                    if linger:
                        self._linger_for_batch(queue)
                    if queue:  # (another uploader may have taken the run meanwhile)
                        break
                    continue
                if not self._held and (self._stopping or not linger):
                    return None
                if self._held and (not linger or self._past_deadline()):
                    return None  # held events wait for their time; a shutdown reports them
                self._not_empty.wait(self._until_next_hold())  # None: until notified
            batch = self._take_from_queue()
            record = self._progress.take(token, batch)
            self._not_full.notify(len(batch))
            return record

    def _linger_for_batch(self, queue: RunQueue) -> None:
        """(lock held) Wait up to ``upload_interval`` for ``upload_size`` events, unless
        a flush or a shutdown wants them now.

        When a batch's worth gathered while the last request was out, traffic is
        heavy: wait, at most BACKLOG_LINGER, for a full request instead (backlog_upload_size
        events, or the byte limit). The uploader's GIL time is mostly per request, and
        each of its turns stalls one of the application's calls: measured with
        benchmarks/uploader_profile.py, 100k calls took 108-312 requests when sent as
        they came, and the slow calls (p99.9) grew with the count."""
        progress = self._progress
        backlog = len(queue) >= self.upload_size and self.backlog_upload_size > self.upload_size
        now = _monotonic()
        linger_until = now + (min(self.upload_interval, BACKLOG_LINGER) if backlog else self.upload_interval)
        while not self._stopping and self._flush_target <= progress.dequeued:
            if queue.oldest_complete() if backlog else len(queue) >= self.upload_size:
                return
            if len(queue) >= self._half_full or not queue:  # half full: keep room for the callers; or taken
                return
            remaining = linger_until - _monotonic()
            if remaining <= 0:
                return
            self._not_empty.wait(remaining)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and _monotonic() >= self._deadline

    def _pop_due_hold(self) -> Optional[InFlight]:
        """(lock held) A held record whose time has come, or None."""
        while self._held and self._held[0][0] <= _monotonic():
            _, token = heapq.heappop(self._held)
            record = self._progress.in_flight.get(token)
            if record is not None and not record.abandoned:
                return record  # (entries of records a shutdown already reported are skipped)
        return None

    def _until_next_hold(self) -> Optional[float]:
        """(lock held) How long an idle uploader may sleep: until the next hold is due,
        or the shutdown deadline, whichever is first."""
        if not self._held:
            return None
        wake_at = self._held[0][0]
        if self._deadline is not None:
            wake_at = min(wake_at, self._deadline)
        return min(_MAX_WAIT, max(0.0, wake_at - _monotonic()))

    def _release(self, token: int) -> None:
        with self._lock:
            self._progress.in_flight.pop(token, None)
            self._changed.notify_all()

    def _deliver(self, record: InFlight, defer_holds: Optional[bool] = None) -> int:
        """Send the parts of ``record`` until each event reached an outcome (or was held
        back for later); returns how many were delivered.

        ``record.parts`` always lists what is still unresolved, so an exit that gives
        up can report exactly that.
        """
        delivered = 0
        while record.parts:
            part = record.parts[-1]
            if part.due and not self._sleep_until(part.due):
                with self._lock:
                    if record.abandoned:
                        return delivered
                    record.parts.pop()
                    self._reporting += 1
                try:
                    self._cut_by_deadline(record, part.items, None, part.attempts)
                finally:
                    self._reported()
                continue
            with self._lock:
                if record.abandoned:  # a shutdown reported it while we waited: never send it too
                    return delivered
            reply = self._send(part)
            delivered += self._apply(record, part, reply, self.defer_holds if defer_holds is None else defer_holds)
        return delivered

    def _send(self, part: Part) -> Reply:
        """One request for ``part``; the destination says what the response means."""
        timeout = None
        if self._deadline is not None:
            timeout = max(0.05, min(self.transport.timeout, self._deadline - _monotonic()))
        if part.resend:
            self.outcomes.count_retry()
        destination = self.destination
        send_parts = getattr(self.transport, "send_parts", None)  # ours: the body need not be joined
        if send_parts is not None:
            attempt = send_parts(destination.body_parts(part.items), timeout=timeout)
        else:
            attempt = self.transport.send(destination.body(part.items), timeout=timeout)
        part.attempts += 1 + attempt.resent
        if attempt.resent:
            self.outcomes.count_retry(attempt.resent)
        try:
            reply = destination.read_batch(attempt.status, attempt.body, parse_retry_after(attempt.retry_after), part.items)
        except Exception as exc:  # noqa: BLE001 - a destination's bug must not kill the uploader
            log.exception("analytics_sdk: %s could not read a response", destination.name)
            reply = Reply(Action.DROP, attempt.status, "rejected", f"unreadable response ({type(exc).__name__})")
        if attempt.status is None or reply.action is Action.RETRY:
            log.debug(
                "analytics_sdk: %s request: %s", destination.name, attempt.error or f"HTTP {attempt.status}"
            )
        return reply

    def _apply(self, record: InFlight, part: Part, reply: Reply, defer_holds: bool) -> int:
        """Act on what the destination said about ``part``; returns how many were delivered.

        Successors (retries, halves, holds) replace ``part`` in the record before any
        outcome is reported: reporting runs user code (on_error, callbacks), and a
        shutdown that gives up meanwhile must find every event still unresolved.
        """
        result = resolve(reply, part.items)
        status, attempts = reply.status, part.attempts
        later: List[Part] = []
        gave_up_retrying: List[bytes] = []
        holds: List[Part] = []
        for seconds, items in result.held.items():
            held = self._retry_part(items, part, seconds)
            if held is None:
                gave_up_retrying += items
            elif defer_holds:
                holds.append(held)
            else:
                later.append(held)
        if result.retry:
            retry = self._retry_part(result.retry, part, reply.retry_after)
            if retry is None:
                gave_up_retrying += result.retry
            else:
                later.append(retry)
        for half in reversed(result.halves):  # keep order: the first half goes next
            later.append(Part(half, attempts=attempts, resend=True))
        with self._lock:
            if record.abandoned:
                return 0  # a shutdown gave up while we waited and reported every event of it, these too
            record.parts.pop()  # ``part`` is the last one: only this thread takes parts off a record
            record.parts.extend(later)
            if self._gave_up:  # the shutdown is about to report this record: keep the holds in it
                record.parts.extend(holds)
            else:
                for held in holds:
                    self._hold_locked(record, held)
            self._reporting += 1  # off the record, not reported yet: a shutdown waits for these (see finish_shutdown)
        try:
            if result.delivered:
                self.outcomes.delivered(result.delivered, status, attempts)
                log.debug("analytics_sdk: delivered %d message(s) (HTTP %s)", len(result.delivered), status)
            for (reason, detail), items in result.dropped.items():
                self.outcomes.drop(reason, items, detail or "the server refused the message(s)", status, attempts)
            if gave_up_retrying:
                detail = "gave up retrying" + (f": {reply.detail}" if reply.detail else "")
                self.outcomes.drop("retries_exhausted", gave_up_retrying, detail, status, attempts)
        finally:
            self._reported()
        return len(result.delivered)

    def _reported(self) -> None:
        with self._lock:
            self._reporting = max(0, self._reporting - 1)  # (0 after a fork in user code: never below)
            if self._awaiting_reports:  # only a shutdown that gave up waits (not on every request)
                self._changed.notify_all()

    def _retry_part(self, items: Sequence[bytes], part: Part, wait: Optional[float]) -> Optional[Part]:
        """The part to resend after a backoff (or ``wait``), or None when the retry
        policy gives up. Each successor gets its own copy of the retry history, so
        groups split off one response never spend each other's retries."""
        state = part.retry.copy() if part.retry is not None else self.retry_policy.start()
        delay = state.next_delay(wait)
        if delay is None:
            return None
        log.debug("analytics_sdk: retrying %d message(s) in %.2f s", len(items), delay)
        return Part(items, retry=state, due=_monotonic() + delay, attempts=part.attempts, resend=True)

    def _hold_locked(self, record: InFlight, part: Part) -> None:
        """(lock held) Keep ``part`` aside until its time, as an in-flight record of its own."""
        token = next(self._tokens)
        self._progress.in_flight[token] = InFlight(first_seq=record.first_seq, parts=[part], token=token)
        heapq.heappush(self._held, (part.due, token))
        self._not_empty.notify()

    def _cut_by_deadline(self, record: InFlight, items: Sequence[bytes], status: Optional[int], attempts: int) -> None:
        """A shutdown deadline stopped the retries of ``items``: in memory, that is a loss."""
        self.outcomes.drop("shutdown_timeout", items, "the shutdown deadline came before the next retry", status, attempts)

    def _sleep_until(self, wake_at: float) -> bool:
        """Wait until ``wake_at``; False if a shutdown deadline comes first."""
        with self._lock:
            while True:
                now = _monotonic()
                if self._deadline is not None and wake_at > self._deadline:
                    return False
                if now >= wake_at:
                    return True
                self._changed.wait(min(wake_at - now, _MAX_WAIT))

    def _report_abandoned(self, record: InFlight, reason: str, detail: str) -> None:
        with self._lock:
            if record.abandoned:
                return
            record.abandoned = True
            parts, record.parts = record.parts, []
        for part in parts:
            self.outcomes.drop(reason, part.items, detail)

    # -- waiting ------------------------------------------------------------------

    def _wait_done(self, target: int, deadline: float) -> bool:
        """Wait (lock held) until everything before ``target`` is finished."""
        while not self._progress.done(target):
            remaining = deadline - _monotonic()
            if remaining <= 0:
                return False
            self._changed.wait(min(remaining, _MAX_WAIT))
        return True

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait for what was queued before this call to reach an outcome; True if it did
        in time. ``timeout=None`` waits as long as that takes (the retry policy's time
        budget bounds it)."""
        deadline = _FOREVER if timeout is None else _monotonic() + timeout
        if not self._lock.acquire(False):
            if in_signal_handler_over(self):
                # This thread holds the lock, or may: waiting would wait for itself.
                log.warning("analytics_sdk: flush() in a signal handler that interrupted the SDK does not wait")
                return not self._from_handlers and self._done_without_waiting(self._progress.enqueued)
            self._lock.acquire()
        self._lock.release()  # (the wait below takes it again: only reentry needed the try)
        with self._lock:
            if self._from_handlers:
                self._take_in_from_handlers()
            target = self._progress.enqueued
            if in_user_code():
                # Called from on_error, a callback or a plugin (on one of our threads):
                # waiting could wait for ourselves, or for another SDK thread that waits for us.
                return self._done_without_waiting(target)
            self._flush_target = max(self._flush_target, target)
            self._wake_for_flush()
            restart = not any(t.is_alive() for t in self._threads) and self._has_work()
            if restart:
                self._threads = []
                restart = not self._start_threads()
            inline = self._deferred
        if restart:
            self._start_after_monkey_patch()
        if inline:  # no uploader may run here (prefork.py): the caller's thread sends
            self._drain_inline()
        return self._wait_flushed(target, deadline)

    def _done_without_waiting(self, target: int) -> bool:
        """(lock held) Whether everything before ``target`` is already finished."""
        return self._progress.done(target)

    def _wake_for_flush(self) -> None:
        """(lock held) Stop lingering for a fuller batch: a flush wants it now."""
        self._not_empty.notify_all()

    def _has_work(self) -> bool:
        """(lock held) Whether anything waits for an uploader."""
        return bool(self._queue) or bool(self._held)

    def _wait_flushed(self, target: int, deadline: float) -> bool:
        with self._lock:
            return self._wait_done(target, deadline)

    def begin_shutdown(self, deadline: float) -> None:
        """Refuse new messages; let uploaders drain and exit; bound retries by ``deadline``."""
        with self._lock:
            if self._from_handlers:
                self._take_in_from_handlers()
            self._closed = True
            self._stopping = True
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
            self._not_empty.notify_all()
            self._not_full.notify_all()
            self._changed.notify_all()

    def finish_shutdown(self, deadline: float) -> bool:
        """Wait for the drain until ``deadline``; report whatever could not be sent."""
        if in_user_code():
            return False
        if self._deferred and not prefork.took_backlog():
            self._hand_over_at_exit()
        elif not any(t.is_alive() for t in self._threads):
            self._drain_inline()
        with self._lock:
            done = self._wait_done(self._progress.enqueued, deadline)
            stranded = list(self._queue)
            self._progress.dequeued += len(stranded)
            self._queue.clear()
            records = list(self._progress.in_flight.values())
            self._gave_up = not done  # from now on, what an uploader would put back is reported instead
        if stranded:
            self.outcomes.drop("shutdown_timeout", stranded, "still queued when the shutdown deadline passed")
        if not done:
            for record in records:
                self._report_abandoned(record, "shutdown_timeout", "still sending when the shutdown deadline passed")
            with self._lock:  # reported: a later flush() must not wait for them
                for record in records:
                    self._progress.in_flight.pop(record.token, None)
                self._held.clear()
                self._changed.notify_all()
        if not done:
            self._wait_for_reports(deadline)
        for thread in self._threads:
            thread.join(max(0.0, min(deadline - _monotonic(), _MAX_WAIT)))
        self._close_transport()
        return done and not stranded

    def _hand_over_at_exit(self) -> None:
        """(uWSGI master) A worker took the backlog: it is that worker's to send."""
        with self._lock:
            self._progress.dequeued += len(self._queue)
            self._queue.clear()
            self._changed.notify_all()

    def _close_transport(self) -> None:
        """Close the keep-alive connections the uploaders leave (else each is closed by
        the garbage collector, a ResourceWarning under ``python -X dev``)."""
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - a replacement transport's bug must not break a shutdown
            log.debug("analytics_sdk: transport close() raised", exc_info=True)

    def _wait_for_reports(self, deadline: float) -> None:
        """An uploader whose last attempt ended at the deadline reports those events
        itself (it took them off their record, so a shutdown that gives up does not):
        a moment more for that, or an exit would cut the report (on_error) off. From the
        deadline, so the destinations of one exit share the one grace."""
        grace_end = deadline + REPORT_GRACE
        with self._lock:
            self._awaiting_reports = True
            while self._reporting > 0 and _monotonic() < grace_end:
                self._changed.wait(grace_end - _monotonic())

    def _drain_inline(self) -> None:
        """No live uploader (never started, or exit is too late to start one): send here."""
        while True:
            token = next(self._tokens)
            record = self._take_batch(token, linger=False)
            if record is None:
                return
            try:
                self._deliver(record)
            finally:
                self._release(record.token)
            if self._past_deadline():
                return

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        deadline = _FOREVER if timeout is None else _monotonic() + timeout
        self.begin_shutdown(deadline)
        return self.finish_shutdown(deadline)
