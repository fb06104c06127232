"""``Client``: validate, build, encode once, enqueue. No HTTP or thread code of its own."""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any, Dict, Optional, Tuple

from . import messages
from .delivery.batching import MAX_MESSAGE_BYTES
from .delivery.consumer import Consumer, register_exit_timeout
from .errors import ValidationError
from .delivery.outcomes import ErrorCallback, Outcomes
from .delivery.retry import RetryPolicy
from .serialization import encode
from .delivery.spool import Spool, SpoolError
from .delivery.spooled import SpooledConsumer
from .delivery.transport import make_transport

__all__ = ["Client", "Result"]

log = logging.getLogger("analytics_sdk")
log.addHandler(logging.NullHandler())

Result = Tuple[bool, Dict[str, Any]]

_debug_handler: Optional[logging.Handler] = None


def _configure_logging(debug: bool, handler: Optional[logging.Handler]) -> None:
    """``debug=True`` adds one stderr handler, once per process however many clients."""
    global _debug_handler
    if handler is not None and handler not in log.handlers:
        log.addHandler(handler)
    if debug:
        log.setLevel(logging.DEBUG)
        if handler is None and _debug_handler is None:
            _debug_handler = logging.StreamHandler()
            log.addHandler(_debug_handler)


class _QueueView:
    """Read-only view of the queue under the names ``queue.Queue`` users know."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    @property
    def maxsize(self) -> int:
        return self._consumer.max_queue_size

    def qsize(self) -> int:
        return self._consumer.depth

    def empty(self) -> bool:
        return self._consumer.depth == 0

    def full(self) -> bool:
        return self._consumer.depth >= self._consumer.max_queue_size


class Client:
    """A Segment-compatible analytics client.

    Keyword arguments and defaults match ``segment-analytics-python`` 2.x; the
    additions are ``flush_timeout`` (default deadline of ``flush``/``shutdown``
    and of delivery at exit), ``queue_full_timeout`` (how long a call may block
    for room when the queue is full; 0 = refuse at once), ``verify`` (TLS
    verification, as in requests) and ``transport`` (a replacement sender).
    """

    def __init__(
        self,
        write_key: Optional[str] = None,
        host: Optional[str] = None,
        debug: bool = False,
        max_queue_size: int = 10000,
        send: bool = True,
        on_error: Optional[ErrorCallback] = None,
        gzip: bool = False,
        max_retries: int = 10,
        sync_mode: bool = False,
        timeout: float = 15,
        proxies: Optional[Dict[str, str]] = None,
        thread: int = 1,
        upload_size: int = 100,
        upload_interval: float = 0.5,
        log_handler: Optional[logging.Handler] = None,
        max_total_backoff_duration: float = 300.0,
        max_rate_limit_duration: Optional[float] = None,
        *,
        flush_timeout: float = 5.0,
        queue_full_timeout: float = 0.0,
        verify: Any = True,
        transport: Any = None,
        spool_path: Optional[str] = None,
        spool_max_messages: int = 1_000_000,
        spool_sync: bool = False,
    ) -> None:
        if not isinstance(write_key, str) or not write_key:
            raise ValidationError("write_key is required: Client('YOUR_WRITE_KEY') or analytics_sdk.write_key = ...")
        _require_positive_int("max_queue_size", max_queue_size)
        _require_positive_int("thread", thread)
        _require_positive_int("upload_size", upload_size)
        _require_non_negative_int("max_retries", max_retries)
        for name, value in (
            ("timeout", timeout),
            ("upload_interval", upload_interval),
            ("max_total_backoff_duration", max_total_backoff_duration),
            ("flush_timeout", flush_timeout),
            ("queue_full_timeout", queue_full_timeout),
        ):
            _require_non_negative_number(name, value)
        if host is not None and not (isinstance(host, str) and host.startswith(("http://", "https://"))):
            raise ValidationError(f"host must be an http:// or https:// URL, got {host!r}")
        if not on_error:
            on_error = None  # Segment code sometimes passes False
        elif not callable(on_error):
            raise ValidationError("on_error must be callable as on_error(error, messages)")

        self.write_key = write_key
        self.host = host
        self.debug = debug
        self.send = send
        self.sync_mode = sync_mode
        self.gzip = gzip
        self.timeout = timeout
        self.proxies = proxies
        self.max_retries = max_retries
        self.max_queue_size = max_queue_size
        self.thread = thread
        self.upload_size = upload_size
        self.upload_interval = upload_interval
        self.max_total_backoff_duration = max_total_backoff_duration
        self.max_rate_limit_duration = max_rate_limit_duration
        self.flush_timeout = flush_timeout
        self.queue_full_timeout = queue_full_timeout
        self.log = log
        _configure_logging(debug, log_handler)

        self._outcomes = Outcomes(on_error)
        self._transport = transport or make_transport(
            write_key, host=host, gzip=gzip, timeout=timeout, proxies=proxies, verify=verify
        )
        policy = RetryPolicy(max_retries=max_retries, max_elapsed=max_total_backoff_duration)
        consumer_options: Dict[str, Any] = dict(
            max_queue_size=max_queue_size,
            upload_size=upload_size,
            upload_interval=upload_interval,
            threads=thread,
            retry_policy=policy,
        )
        self.spool_path = spool_path
        self.spool_error: Optional[str] = None
        spool = self._open_spool(spool_path, spool_max_messages) if spool_path and send and not sync_mode else None
        if spool is not None:
            self._consumer: Consumer = SpooledConsumer(
                self._transport, self._outcomes, spool, spool_sync=spool_sync, **consumer_options
            )
        else:
            self._consumer = Consumer(self._transport, self._outcomes, **consumer_options)
        self.queue = _QueueView(self._consumer)
        if send and not sync_mode:
            register_exit_timeout(self._consumer, flush_timeout)
        # A client dropped without shutdown(): let its uploader drain and exit
        # (without blocking the thread that dropped it). Exit has its own hook.
        weakref.finalize(self, _release_consumer, self._consumer, flush_timeout).atexit = False

    def _open_spool(self, path: str, max_messages: int) -> Optional[Spool]:
        _require_positive_int("spool_max_messages", max_messages)
        try:
            return Spool(path, max_messages)
        except SpoolError as exc:
            # A bad spool file must never take the application down: keep working in memory.
            self.spool_error = str(exc)
            log.error("analytics_sdk: %s; the spool is disabled and events are kept in memory only", exc)
            return None

    def __repr__(self) -> str:  # the write key stays out of reprs and logs
        return f"<analytics_sdk.Client host={self.host!r} send={self.send} sync_mode={self.sync_mode}>"

    @property
    def on_error(self) -> Optional[ErrorCallback]:
        return self._outcomes.on_error

    @on_error.setter
    def on_error(self, callback: Optional[ErrorCallback]) -> None:
        self._outcomes.on_error = callback

    # -- the six calls ---------------------------------------------------------

    def identify(
        self,
        user_id: Optional[messages.Id] = None,
        traits: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Tie a user to their traits. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_identify(user_id, traits, context, timestamp, anonymous_id, integrations, message_id)
        )

    def track(
        self,
        user_id: Optional[messages.Id] = None,
        event: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Record that a user did something. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_track(
                user_id, event, properties, context, timestamp, anonymous_id, integrations, message_id
            )
        )

    def page(
        self,
        user_id: Optional[messages.Id] = None,
        category: Optional[str] = None,
        name: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Record a page view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_page(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            )
        )

    def screen(
        self,
        user_id: Optional[messages.Id] = None,
        category: Optional[str] = None,
        name: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Record a mobile screen view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_screen(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            )
        )

    def group(
        self,
        user_id: Optional[messages.Id] = None,
        group_id: Optional[messages.Id] = None,
        traits: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Associate a user with a group (company, team...). Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_group(
                user_id, group_id, traits, context, timestamp, anonymous_id, integrations, message_id
            )
        )

    def alias(
        self,
        previous_id: Optional[messages.Id] = None,
        user_id: Optional[messages.Id] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Result:
        """Merge two identities (``previous_id`` becomes ``user_id``). Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_alias(previous_id, user_id, context, timestamp, integrations, message_id)
        )

    # -- the path from call to queue ---------------------------------------------

    def _enqueue(self, msg: Dict[str, Any]) -> Result:
        # Encode once: the bytes are the immutable snapshot we queue, and their
        # length is the size the API will see.
        data = encode(msg)
        if len(data) > MAX_MESSAGE_BYTES:
            self._outcomes.drop("too_large", [data], f"{len(data)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
            return False, msg
        if not self.send:
            return True, msg
        if self.sync_mode:
            return self._consumer.send_now(data), msg
        refused = self._consumer.put(data, self.queue_full_timeout)
        if refused is not None:
            self._outcomes.drop(refused, [data], _REFUSAL_DETAIL[refused])
            return False, msg
        return True, msg

    # -- lifecycle -----------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send what was queued before this call now; wait at most ``timeout`` seconds
        (default ``flush_timeout``). Returns whether all of it finished in time."""
        return self._consumer.flush(self.flush_timeout if timeout is None else timeout)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (within ``timeout``, default ``flush_timeout``), then
        stop the uploader. Later calls on this client return ``(False, msg)``."""
        return self._consumer.shutdown(self.flush_timeout if timeout is None else timeout)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Segment's ``join``: block until the queue is sent and the uploader has stopped."""
        return self.shutdown(timeout)

    def stats(self) -> Dict[str, Any]:
        """Counters: enqueued, delivered, retried_requests, dropped (by reason), queue_depth."""
        snapshot = {"enqueued": self._consumer.enqueued, **self._outcomes.snapshot()}
        snapshot["queue_depth"] = self._consumer.depth
        spool = getattr(self._consumer, "spool", None)
        if spool is not None:
            snapshot["spool_depth"] = spool.count
        return snapshot


def _release_consumer(consumer: Consumer, timeout: float) -> None:
    consumer.begin_shutdown(time.monotonic() + timeout)


_REFUSAL_DETAIL = {
    "queue_full": "the queue is full (max_queue_size); the message was not queued",
    "spool_full": "the spool is full (spool_max_messages); the message was not queued",
    "client_closed": "the client was shut down; the message was not queued",
}


def _require_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")


def _require_non_negative_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name} must be a non-negative integer, got {value!r}")


def _require_non_negative_number(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValidationError(f"{name} must be a non-negative number of seconds, got {value!r}")
