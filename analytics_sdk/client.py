"""``Client``: validate, build, encode once, enqueue. No HTTP or thread code of its own."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import builders, messages, process, settings
from .delivery.callbacks import Callbacks, OutcomeCallback
from .delivery.consumer import Consumer
from .delivery.lifecycle import install_sigterm_handler, register_exit_timeout, reset_after_fork
from .delivery.outcomes import ErrorCallback, Outcomes
from .delivery.plugin_worker import PluginTarget, PluginWorker
from .destinations.base import Destination, Unsendable
from .destinations.segment import Segment
from .errors import ValidationError
from .plugins import PluginType
from .routes import Route, build_routes, retry_policy
from .message_encoding import encode_message

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
    additions (keyword-only) are ``destinations`` (where messages go; default: the
    Segment API at ``host`` with ``write_key``), ``callback`` (``callback(event,
    code, message)`` for every outcome), ``opt_out``, ``flush_timeout`` (default
    bound of ``flush``/``shutdown``; None waits for every outcome),
    ``exit_timeout`` (deadline of delivery at exit), ``queue_full_timeout`` (how
    long a call may block for room when the queue is full; 0 = refuse at once),
    ``verify`` (TLS verification, as in requests), ``transport`` (a replacement
    sender for the default destination), the spool settings, ``backlog_upload_size``
    (events per request while a backlog is queued) and ``handle_sigterm``
    (deliver at SIGTERM; an application's own handler is kept and runs first).
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
        destinations: Optional[Sequence[Destination]] = None,
        callback: Optional[OutcomeCallback] = None,
        opt_out: bool = False,
        flush_timeout: Optional[float] = None,
        exit_timeout: Optional[float] = None,
        queue_full_timeout: float = 0.0,
        verify: Any = True,
        transport: Any = None,
        spool_path: Optional[str] = None,
        spool_max_messages: int = 1_000_000,
        spool_sync: bool = False,
        handle_sigterm: bool = True,
        backlog_upload_size: int = 1000,
    ) -> None:
        if destinations is None:  # other destinations carry their own keys
            settings.check_write_key(write_key)
        for name, count in (
            ("max_queue_size", max_queue_size),
            ("thread", thread),
            ("upload_size", upload_size),
            ("backlog_upload_size", backlog_upload_size),
            ("spool_max_messages", spool_max_messages),
        ):
            settings.check_positive_int(name, count)
        settings.check_non_negative_int("max_retries", max_retries)
        settings.check_seconds("timeout", timeout, positive=True)  # 0 would make every socket non-blocking
        for name, value in (
            ("upload_interval", upload_interval),
            ("max_total_backoff_duration", max_total_backoff_duration),
            ("queue_full_timeout", queue_full_timeout),
        ):
            settings.check_seconds(name, value)
        for optional_name, optional_value in (
            ("flush_timeout", flush_timeout),  # None: flush waits for every outcome
            ("exit_timeout", exit_timeout),
            ("max_rate_limit_duration", max_rate_limit_duration),
        ):
            settings.check_optional_seconds(optional_name, optional_value)
        settings.check_host(host)
        verify = settings.check_verify(verify)
        on_error = settings.check_on_error(on_error)
        if callback is not None and not callable(callback):
            raise ValidationError("callback must be callable as callback(event, code, message)")
        if destinations is None:
            destinations = [Segment(write_key or "", host=host, gzip=gzip, transport=transport)]
        elif isinstance(destinations, Destination) or not destinations:
            raise ValidationError("destinations must be a non-empty list of Destination objects")

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
        self.backlog_upload_size = backlog_upload_size
        self.upload_interval = upload_interval
        self.max_total_backoff_duration = max_total_backoff_duration
        self.max_rate_limit_duration = max_rate_limit_duration
        self.flush_timeout = flush_timeout
        # Exit needs a deadline even when flush waits for outcomes: a process
        # manager's kill comes a few seconds after its SIGTERM (docs/delivery.md).
        self.exit_timeout = exit_timeout if exit_timeout is not None else (
            flush_timeout if flush_timeout is not None else DEFAULT_EXIT_TIMEOUT
        )
        self.queue_full_timeout = queue_full_timeout
        self.opt_out = opt_out
        self.handle_sigterm = handle_sigterm
        self.log = log
        _configure_logging(debug, log_handler)

        self._callbacks = Callbacks(callback)
        self._outcomes = Outcomes(on_error, None, self._callbacks)  # what happens before routing
        reset_after_fork(self._outcomes)  # a child counts its own outcomes, with a lock no thread holds
        self._plugins_lock = threading.Lock()  # add/remove only; never held while plugin code runs
        self._routes: Tuple[Route, ...] = tuple(
            build_routes(
                destinations,
                on_error=on_error,
                callbacks=self._callbacks,
                timeout=timeout,
                proxies=proxies,
                verify=verify,
                consumer_options=dict(
                    max_queue_size=max_queue_size,
                    upload_size=upload_size,
                    backlog_upload_size=backlog_upload_size,
                    upload_interval=upload_interval,
                    threads=thread,
                    retry_policy=retry_policy(max_retries, max_total_backoff_duration),
                ),
                spool_path=spool_path if send and not sync_mode else None,
                spool_max_messages=spool_max_messages,
                spool_sync=spool_sync,
            )
        )
        self.destinations: List[Destination] = [route.destination for route in self._routes]
        first = self._routes[0]
        self._consumer = first.consumer  # the default destination's (Segment-era name)
        self._transport = first.consumer.transport
        self.spool_path = spool_path
        self.spool_error: Optional[str] = first.spool_error
        self.queue = _QueueView(self._consumer)
        self._event_plugins: Tuple[Any, ...] = ()
        self._plugin_workers: Dict[Any, PluginWorker] = {}
        self._single: Optional[Route] = first if len(self._routes) == 1 else None
        if send and not sync_mode:
            for route in self._routes:
                register_exit_timeout(route.consumer, self.exit_timeout)
            if handle_sigterm:
                install_sigterm_handler()
        # A client dropped without shutdown(): let its uploaders drain and exit
        # (without blocking the thread that dropped it). Exit has its own hook.
        consumers = [route.consumer for route in self._routes]
        weakref.finalize(self, _release_consumers, consumers, self.exit_timeout).atexit = False

    def __repr__(self) -> str:  # the write key stays out of reprs and logs
        names = ",".join(route.name for route in self._routes)
        return f"<analytics_sdk.Client host={self.host!r} destinations={names} send={self.send} sync_mode={self.sync_mode}>"

    @property
    def on_error(self) -> Optional[ErrorCallback]:
        return self._outcomes.on_error

    @on_error.setter
    def on_error(self, callback: Optional[ErrorCallback]) -> None:
        self._outcomes.on_error = callback
        for route in self._routes:
            route.outcomes.on_error = callback

    @property
    def callback(self) -> Optional[OutcomeCallback]:
        return self._callbacks.callback

    @callback.setter
    def callback(self, callback: Optional[OutcomeCallback]) -> None:
        self._callbacks.callback = callback

    # -- plugins ------------------------------------------------------------------

    def add(self, plugin: Any) -> "Client":
        """Add a plugin (see ``analytics_sdk.plugins``); its ``setup(client)`` runs now."""
        kind = getattr(plugin, "plugin_type", None)
        if not isinstance(kind, PluginType) or not callable(getattr(plugin, "execute", None)):
            raise ValidationError("a plugin needs a plugin_type (PluginType) and an execute(event) method")
        if kind is PluginType.OBSERVE:
            raise ValidationError("plugin_type OBSERVE is not run by any client: use BEFORE, ENRICHMENT or DESTINATION")
        setup = getattr(plugin, "setup", None)
        if callable(setup):
            setup(self)
        if kind is PluginType.DESTINATION:
            name = getattr(plugin, "name", None) or type(plugin).__name__
            outcomes = Outcomes(self._outcomes.on_error, PluginTarget(name), self._callbacks)
            worker = PluginWorker(plugin, outcomes, self.max_queue_size)
            register_exit_timeout(worker, self.exit_timeout)
            with self._plugins_lock:
                self._plugin_workers = {**self._plugin_workers, plugin: worker}
        else:
            # Copy-on-write: calls read the tuple without a lock.
            with self._plugins_lock:
                plugins = list(self._event_plugins) + [plugin]
                plugins.sort(key=lambda p: p.plugin_type.value)  # stable: BEFORE, then ENRICHMENT, each in order added
                self._event_plugins = tuple(plugins)
        return self

    def remove(self, plugin: Any) -> "Client":
        """Remove a plugin. A destination plugin finishes what it was given, then stops."""
        with self._plugins_lock:
            worker = self._plugin_workers.get(plugin)
            if worker is not None:
                self._plugin_workers = {p: w for p, w in self._plugin_workers.items() if p is not plugin}
            found = any(p is plugin for p in self._event_plugins)
            if found:
                self._event_plugins = tuple(p for p in self._event_plugins if p is not plugin)
        if worker is not None:
            worker.stop()
        elif found:
            shutdown = getattr(plugin, "shutdown", None)
            if callable(shutdown):
                shutdown()
        return self

    # -- the six calls ---------------------------------------------------------

    def identify(
        self,
        user_id: Optional[messages.Id] = None,
        traits: Optional[builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Tie a user to their traits (a dict, or an ``analytics_sdk.Identify``). Returns ``(queued, message)``."""
        if isinstance(traits, builders.Builder):
            traits, integrations = builders.lift("identify", traits, integrations)
        return self._enqueue(
            messages.build_identify(user_id, traits, context, timestamp, anonymous_id, integrations, message_id),
            callback,
        )

    def track(
        self,
        user_id: Optional[messages.Id] = None,
        event: Optional[str] = None,
        properties: Optional[builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record that a user did something (properties: a dict, or an ``analytics_sdk.Revenue``).
        Returns ``(queued, message)``."""
        if isinstance(properties, builders.Builder):
            properties, integrations = builders.lift("track", properties, integrations)
        return self._enqueue(
            messages.build_track(
                user_id, event, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
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
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record a page view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_page(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
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
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record a mobile screen view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_screen(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def group(
        self,
        user_id: Optional[messages.Id] = None,
        group_id: Optional[messages.Id] = None,
        traits: Optional[builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Associate a user with a group (company, team...); traits: a dict or an
        ``analytics_sdk.Identify``. Returns ``(queued, message)``."""
        if isinstance(traits, builders.Builder):
            traits, integrations = builders.lift("group", traits, integrations)
        return self._enqueue(
            messages.build_group(
                user_id, group_id, traits, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def alias(
        self,
        previous_id: Optional[messages.Id] = None,
        user_id: Optional[messages.Id] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Merge two identities (``previous_id`` becomes ``user_id``). Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_alias(previous_id, user_id, context, timestamp, integrations, message_id),
            callback,
        )

    # -- the path from call to queue ---------------------------------------------

    def _enqueue(self, msg: Dict[str, Any], callback: Optional[OutcomeCallback] = None) -> Result:
        if self._event_plugins:
            processed = self._run_plugins(msg)
            if processed is None:
                return False, msg
            msg = processed
        if self.opt_out:
            self._outcomes.count_quiet("opted_out")
            return True, msg
        route = self._single
        if route is not None and callback is None and not self._plugin_workers:
            return self._enqueue_one(route, msg)
        return self._enqueue_many(msg, callback)

    def _enqueue_one(self, route: Route, msg: Dict[str, Any]) -> Result:
        """One destination, no per-call callback, no destination plugin: the common case."""
        if not route.destination.accepts(msg):  # integrations={"<Name>": False}
            route.outcomes.count_quiet("filtered")
            return True, msg
        # Encode once: the bytes are the immutable snapshot we queue, and their
        # length is the size the API will see.
        data = self._encode_for(route, msg)
        if data is None:
            return False, msg
        if not self.send:
            return True, msg
        if self.sync_mode:
            return route.consumer.send_now(data), msg
        refused = route.consumer.put(data, self.queue_full_timeout)
        if refused is not None:
            route.outcomes.drop(refused, [data], _REFUSAL_DETAIL[refused])
            return False, msg
        return True, msg

    def _enqueue_many(self, msg: Dict[str, Any], callback: Optional[OutcomeCallback]) -> Result:
        """Every destination that takes the message gets it; success means all of them queued it."""
        taking = []
        for route in self._routes:
            if route.destination.accepts(msg):
                taking.append(route)
            else:
                route.outcomes.count_quiet("filtered")
        if callback is not None and self.send and taking:
            # Registered before encoding, so a refusal at encode time reaches it too.
            self._callbacks.register(msg["messageId"], callback, len(taking))
        encoded = []
        ok = True
        by_encoder: Dict[Any, Optional[bytes]] = {}  # Segment-format destinations share one encoding
        for route in taking:
            encoder = route.destination.encode
            shared = by_encoder.get(encoder)
            if shared is not None:
                data = self._check_size(route, shared)
            else:
                data = by_encoder[encoder] = self._encode_for(route, msg)
            if data is None:
                ok = False
            else:
                encoded.append((route, data))
        workers = tuple(self._plugin_workers.values())
        # Destination plugins get the canonical JSON: a Segment-format route already made it.
        snapshot = (by_encoder.get(encode_message) or encode_message(msg)) if workers else b""
        if not self.send:
            return ok, msg
        for route, data in encoded:
            if self.sync_mode:
                ok = route.consumer.send_now(data) and ok
                continue
            refused = route.consumer.put(data, self.queue_full_timeout)
            if refused is not None:
                route.outcomes.drop(refused, [data], _REFUSAL_DETAIL[refused])
                ok = False
        for worker in workers:
            refused = worker.put(snapshot)
            if refused is not None:
                worker.outcomes.drop(refused, [snapshot], _REFUSAL_DETAIL[refused])
        return ok, msg

    def _encode_for(self, route: Route, msg: Dict[str, Any]) -> Optional[bytes]:
        """``msg`` in the route's wire format, or None when refused (reported here)."""
        destination = route.destination
        try:
            data = destination.encode(msg)
        except Unsendable as exc:
            route.outcomes.drop(exc.reason, [msg], exc.detail)
            return None
        except ValidationError:
            raise  # a bad argument (a circular reference...): the caller's to fix
        except Exception as exc:  # noqa: BLE001 - a destination's bug must not break the call
            log.exception("analytics_sdk: %s could not encode a message", route.name)
            route.outcomes.drop("unsendable", [msg], f"{type(exc).__name__} while encoding")
            return None
        return self._check_size(route, data)

    @staticmethod
    def _check_size(route: Route, data: bytes) -> Optional[bytes]:
        limit = route.destination.max_event_bytes
        if len(data) > limit:
            route.outcomes.drop("too_large", [data], f"{len(data)} bytes is over the {limit}-byte limit")
            return None
        return data

    def _run_plugins(self, msg: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Before and enrichment plugins, in order, on a copy the caller's objects never see."""
        event: Optional[Dict[str, Any]] = {k: dict(v) if isinstance(v, dict) else v for k, v in msg.items()}
        for plugin in self._event_plugins:
            try:
                event = plugin.execute(event)
            except Exception as exc:  # noqa: BLE001 - the plugin's failure must not break the call
                log.exception("analytics_sdk: plugin %s raised", getattr(plugin, "name", plugin))
                self._outcomes.drop("plugin_error", [msg], f"{type(exc).__name__} in plugin {_plugin_name(plugin)}")
                return None
            if event is None:
                self._outcomes.count_quiet("filtered")
                return None
            if not isinstance(event, dict):
                self._outcomes.drop("plugin_error", [msg], f"plugin {_plugin_name(plugin)} returned {type(event).__name__}, not a dict")
                return None
        return event

    # -- lifecycle -----------------------------------------------------------------

    def _workers(self) -> List[Any]:
        process.check()  # a child forked behind Python's back must not wait on its parent's threads
        return [route.consumer for route in self._routes] + list(self._plugin_workers.values())

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send what was queued before this call now, and wait until each of those
        messages reached an outcome (delivered or reported) at every destination.

        ``timeout`` (default ``flush_timeout``, which defaults to None) bounds the
        wait; None waits as long as the retry policy allows. Returns whether all of
        it finished in time.
        """
        deadline = self._deadline(timeout)
        done = True
        with contextlib.ExitStack() as waits:
            for route in self._routes:  # a destination that starts retrying meanwhile says so, once
                waits.enter_context(route.outcomes.flush_watch.waiting())
            for worker in self._workers():
                done = worker.flush(None if deadline is None else max(0.0, deadline - time.monotonic())) and done
        return done

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (within ``timeout``, default ``flush_timeout``; None
        waits for every outcome), then stop. Later calls return ``(False, msg)``."""
        deadline = self._deadline(timeout)
        end = float("inf") if deadline is None else deadline
        workers = self._workers()
        for worker in workers:
            worker.begin_shutdown(end)
        done = True
        for worker in workers:
            done = worker.finish_shutdown(end) and done
        for plugin in self._event_plugins:
            shutdown = getattr(plugin, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # noqa: BLE001 - user code
                    log.exception("analytics_sdk: plugin shutdown() raised; ignoring")
        return done

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        if timeout is None:
            timeout = self.flush_timeout
        if timeout is None:
            return None
        return time.monotonic() + settings.check_seconds("timeout", timeout)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Segment's ``join``: block until the queue is sent and the uploader has stopped."""
        return self.shutdown(timeout)

    def stats(self) -> Dict[str, Any]:
        """Counters: enqueued, delivered, retried_requests, dropped (by reason),
        dropped_total, queue_depth, filtered, opted_out (and spool_depth with a
        spool); summed over destinations, and per destination under ``destinations``
        (destination plugins under ``plugins``)."""
        process.check()
        per_destination = {route.name: _route_stats(route.consumer, route.outcomes) for route in self._routes}
        plugins = {
            worker.outcomes.destination.name if worker.outcomes.destination else "plugin": _route_stats(worker, worker.outcomes)
            for worker in self._plugin_workers.values()
        }
        totals: Dict[str, Any] = {"enqueued": 0, "delivered": 0, "retried_requests": 0, "dropped": {}, "queue_depth": 0}
        before_routing = self._outcomes.snapshot()
        for part in [before_routing, *per_destination.values()]:
            for key, value in part.items():
                if key == "dropped":
                    for reason, count in value.items():
                        totals["dropped"][reason] = totals["dropped"].get(reason, 0) + count
                elif isinstance(value, int) and key != "dropped_total":
                    totals[key] = totals.get(key, 0) + value
        totals["dropped_total"] = sum(totals["dropped"].values())
        totals.setdefault("filtered", 0)
        totals.setdefault("opted_out", 0)
        totals["destinations"] = per_destination
        if plugins:
            totals["plugins"] = plugins
        return totals


def _route_stats(worker: Any, outcomes: Outcomes) -> Dict[str, Any]:
    snapshot = {"enqueued": worker.enqueued, **outcomes.snapshot()}
    snapshot["queue_depth"] = worker.depth
    spool = getattr(worker, "spool", None)
    if spool is not None:
        snapshot["spool_depth"] = spool.count
    return snapshot


def _plugin_name(plugin: Any) -> str:
    return str(getattr(plugin, "name", None) or type(plugin).__name__)


def _release_consumers(consumers: List[Consumer], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for consumer in consumers:
        consumer.begin_shutdown(deadline)


DEFAULT_EXIT_TIMEOUT = 5.0

_REFUSAL_DETAIL = {
    "queue_full": "the queue is full (max_queue_size); the message was not queued",
    "spool_full": "the spool is full (spool_max_messages); the message was not queued",
    "spool_unavailable": "the spool cannot be written (see the log) and its memory buffer is full; the message was not queued",
    "client_closed": "the client was shut down; the message was not queued",
}
