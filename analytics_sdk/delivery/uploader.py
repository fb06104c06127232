"""The uploader loop: take -> send -> apply the reply, until each event has an outcome.

One loop for every backlog (memory or spool): the backlog hands out an in-flight
record (``next_record``) and settles it afterwards (``settle``: delete its rows, say); in
between, each part of the record is sent, the destination reads the response (a
:class:`~analytics_sdk.wire.reply.Reply`) and the reply is applied:
delivered, retried with backoff, split, dropped with a reason, or held back (a
throttled user) while other events keep flowing. Every terminal outcome goes
through :class:`~analytics_sdk.delivery.outcomes.Outcomes`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List, Optional, Sequence

from ..wire.reply import Action, Reply, parse_retry_after
from . import doubt
from .clock import MAX_WAIT, monotonic
from .progress import InFlight, Part
from .replies import Resolution, resolve

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Uploader", "REPORT_GRACE"]

log = logging.getLogger("analytics_sdk")

REPORT_GRACE = 1.0  # seconds past a shutdown deadline for reports an uploader is making (wait_for_reports)


class Uploader:
    """The uploader threads' work for one consumer (its lock guards the shared state)."""

    def __init__(self, consumer: "Consumer") -> None:
        self.consumer = consumer
        self.reset()

    def reset(self) -> None:
        """(at construction and in a fork child)"""
        self.reporting = 0  # uploaders reporting outcomes of events they took off a record
        self.awaiting_reports = False  # a shutdown waits for them (wait_for_reports)

    def run(self) -> None:
        """An uploader thread: until the backlog says there is nothing more to send."""
        c = self.consumer
        while True:
            token = next(c.tokens)
            record = c.backlog.next_record(token)
            if record is None:
                return
            self.send_record(record)

    def drain_inline(self) -> None:
        """No live uploader (never started, or exit is too late to start one): send here."""
        c = self.consumer
        while True:
            record = c.batcher.next_record(next(c.tokens), linger=False)
            if record is None:
                return
            try:
                self.deliver(record)
            finally:
                c.release(record.token)
            if c.past_deadline():
                return

    def send_record(self, record: InFlight) -> None:
        """Deliver ``record``; an uploader's own bug reports it instead of killing the thread."""
        c = self.consumer
        crashed = False
        try:
            self.deliver(record)
        except BaseException:  # noqa: BLE001 - the uploader must never die (sys.exit() in on_error too)
            log.exception("analytics_sdk: unexpected error in the uploader")
            # Reported, then settled (rows deleted): retrying a batch that crashes the
            # uploader would crash it forever.
            crashed = True
            self.report_abandoned(record, "rejected", "internal error in the uploader", keep_on_disk=False)
        finally:
            try:
                c.backlog.settle(record, crashed)
            finally:
                c.release(record.token)  # a held record comes back under its own token

    def deliver(self, record: InFlight) -> int:
        """Send the parts of ``record`` until each event reached an outcome (or was held
        back for later); returns how many were delivered.

        ``record.parts`` always lists what is still unresolved, so an exit that gives
        up can report exactly that.
        """
        c = self.consumer
        delivered = 0
        while record.parts:
            part = record.parts[-1]
            if part.due and not self._sleep_until(part.due):
                with c.lock:
                    if record.abandoned:
                        return delivered
                    record.parts.pop()
                    self.reporting += 1
                try:
                    self._cut_by_deadline(record, part)
                finally:
                    self._reported()
                continue
            with c.lock:
                if record.abandoned:  # a shutdown reported it while we waited: never send it too
                    return delivered
            reply = self._send(part)
            delivered += self._apply(record, part, reply)
        return delivered

    def _send(self, part: Part) -> Reply:
        """One request for ``part``; the destination says what the response means."""
        c = self.consumer
        timeout = None
        if c.deadline is not None:
            timeout = max(0.05, min(c.transport.timeout, c.deadline - monotonic()))
        if part.resend:
            c.outcomes.count_retry()
        destination = c.destination
        send_parts = getattr(c.transport, "send_parts", None)  # ours: the body need not be joined
        with doubt.watching(part):  # the transport marks it in doubt once sent whole (outcome_unknown)
            if send_parts is not None:
                attempt = send_parts(destination.body_parts(part.items), timeout=timeout)
            else:
                attempt = c.transport.send(destination.body(part.items), timeout=timeout)
        part.attempts += 1 + attempt.resent
        if attempt.resent:
            c.outcomes.count_retry(attempt.resent)
        try:
            reply = destination.read_batch(attempt.status, attempt.body, parse_retry_after(attempt.retry_after), part.items)
        except Exception as exc:  # noqa: BLE001 - a destination's bug must not kill the uploader
            log.exception("analytics_sdk: %s could not read a response", destination.name)
            reply = Reply(Action.DROP, attempt.status, "rejected", f"unreadable response ({type(exc).__name__})")
        if attempt.status is None or reply.action is Action.RETRY:
            log.debug("analytics_sdk: %s request: %s", destination.name, attempt.error or f"HTTP {attempt.status}")
        return reply

    def _apply(self, record: InFlight, part: Part, reply: Reply) -> int:
        """Act on what the destination said about ``part``; returns how many were delivered.

        Successors (retries, halves, holds) replace ``part`` in the record before any
        outcome is reported: reporting runs user code (on_error, callbacks), and a
        shutdown that gives up meanwhile must find every event still unresolved.
        """
        c = self.consumer
        result = resolve(reply, part.items)
        status, attempts = reply.status, part.attempts
        later: List[Part] = []
        gave_up_retrying: List[bytes] = []
        holds: List[Part] = []
        for seconds, items in result.held.items():
            held = self._retry_part(items, part, seconds)
            if held is None:
                gave_up_retrying += items
            else:
                (later if record.hold_inline else holds).append(held)
        if result.retry:
            retry = self._retry_part(result.retry, part, reply.retry_after)
            if retry is None:
                gave_up_retrying += result.retry
            else:
                later.append(retry)
        for half in reversed(result.halves):  # keep order: the first half goes next
            later.append(Part(half, attempts=attempts, resend=True))
        with c.lock:
            if record.abandoned:
                return 0  # a shutdown gave up while we waited and reported every event of it, these too
            record.parts.pop()  # ``part`` is the last one: only this thread takes parts off a record
            record.parts.extend(later)
            if c.gave_up:  # the shutdown is about to report this record: keep the holds in it
                record.parts.extend(holds)
            else:
                for held in holds:
                    self._hold_locked(record, held)
            self.reporting += 1  # off the record, not reported yet: a shutdown waits for these
        try:
            self._report(result, reply, gave_up_retrying, attempts)
        finally:
            self._reported()
        return len(result.delivered)

    def _report(self, result: Resolution, reply: Reply, gave_up_retrying: List[bytes], attempts: int) -> None:
        outcomes, status = self.consumer.outcomes, reply.status
        if result.delivered:
            outcomes.delivered(result.delivered, status, attempts)
            log.debug("analytics_sdk: delivered %d message(s) (HTTP %s)", len(result.delivered), status)
        for (reason, detail), items in result.dropped.items():
            outcomes.drop(reason, items, detail or "the server refused the message(s)", status, attempts)
        if gave_up_retrying:
            detail = "gave up retrying" + (f": {reply.detail}" if reply.detail else "")
            outcomes.drop("retries_exhausted", gave_up_retrying, detail, status, attempts)

    def _hold_locked(self, record: InFlight, part: Part) -> None:
        """(lock held) Keep ``part`` aside until its time, as an in-flight record of its own."""
        c = self.consumer
        token = next(c.tokens)
        c.progress.in_flight[token] = InFlight(first_seq=record.first_seq, parts=[part], token=token)
        c.holds.push(part.due, token)
        c.not_empty.notify()

    def _reported(self) -> None:
        c = self.consumer
        with c.lock:
            self.reporting = max(0, self.reporting - 1)  # (0 after a fork in user code: never below)
            if self.awaiting_reports:  # only a shutdown that gave up waits (not on every request)
                c.changed.notify_all()

    def _retry_part(self, items: Sequence[bytes], part: Part, wait: Optional[float]) -> Optional[Part]:
        """The part to resend after a backoff (or ``wait``), or None when the retry
        policy gives up. Each successor gets its own copy of the retry history, so
        groups split off one response never spend each other's retries."""
        state = part.retry.copy() if part.retry is not None else self.consumer.retry_policy.start()
        delay = state.next_delay(wait)
        if delay is None:
            return None
        log.debug("analytics_sdk: retrying %d message(s) in %.2f s", len(items), delay)
        self.consumer.outcomes.flush_watch.retrying(delay, self.consumer.retry_policy.max_elapsed)  # one warning if a flush() waits
        return Part(items, retry=state, due=monotonic() + delay, attempts=part.attempts, resend=True, in_doubt=part.in_doubt)

    def _cut_by_deadline(self, record: InFlight, part: Part) -> None:
        """A shutdown deadline stopped the retries of ``part``: in memory, that is a loss (or,
        after a request that went out unanswered, unknown); rows on disk stay there for the
        next process."""
        if record.on_disk:
            self.report_abandoned(record, "shutdown_timeout", "")
        else:
            reason, detail = doubt.exit_cut(part.in_doubt, "the shutdown deadline came before the next retry")
            self.consumer.outcomes.drop(reason, part.items, detail, None, part.attempts)

    def _sleep_until(self, wake_at: float) -> bool:
        """Wait until ``wake_at``; False if a shutdown deadline comes first."""
        c = self.consumer
        with c.lock:
            while True:
                now = monotonic()
                if c.deadline is not None and wake_at > c.deadline:
                    return False
                if now >= wake_at:
                    return True
                c.changed.wait(min(wake_at - now, MAX_WAIT))

    def report_abandoned(self, record: InFlight, reason: str, detail: str, keep_on_disk: bool = True) -> None:
        """Report what ``record`` still holds (once), unless its rows stay on disk for the
        next process (``keep_on_disk``) or the spool writer is still storing it (it
        reports what it cannot store)."""
        if record.storing:
            return
        with self.consumer.lock:
            if record.abandoned:
                return
            record.abandoned = True
            parts, record.parts = record.parts, []
        if keep_on_disk and record.on_disk:
            return
        for part in parts:
            why, text = doubt.exit_cut(part.in_doubt, detail) if reason == "shutdown_timeout" else (reason, detail)
            self.consumer.outcomes.drop(why, part.items, text)

    def wait_for_reports(self, deadline: float) -> None:
        """An uploader whose last attempt ended at the deadline reports those events
        itself (it took them off their record, so a shutdown that gives up does not):
        a moment more for that, or an exit would cut the report (on_error) off. From the
        deadline, so the destinations of one exit share the one grace."""
        c = self.consumer
        grace_end = deadline + REPORT_GRACE
        with c.lock:
            self.awaiting_reports = True
            while self.reporting > 0 and monotonic() < grace_end:
                c.changed.wait(grace_end - monotonic())
