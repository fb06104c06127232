"""``Client``: validate, build, encode once, enqueue. No HTTP or thread code of its own."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import dispatch, process, settings
from .delivery.callbacks import Callbacks, OutcomeCallback
from .delivery.consumer import Consumer
from .delivery.exit_delivery import DEFAULT_EXIT_TIMEOUT, register_exit_timeout
from .delivery.fork_reinit import reset_after_fork
from .delivery.sigterm import install_sigterm_handler
from .delivery.outcomes import ErrorCallback, Outcomes
from .delivery.plugin_worker import PluginTarget, PluginWorker
from .delivery.reentry import cannot_wait, hands_to_the_application
from .wire.base import Destination
from .wire.segment import Segment
from .errors import ValidationError
from .logs import configure_logging, log
from .plugins import PluginType
from .routes import Route, routes_for
from .segment_calls import Result, SegmentCalls
from .stats import client_stats

__all__ = ["Client", "Result"]


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


class Client(SegmentCalls):
    """A Segment-compatible analytics client.

    Keyword arguments and defaults match ``segment-analytics-python`` 2.x; the
    additions are keyword-only. Every argument is described once, in
    ``analytics_sdk.settings.SETTINGS`` (and the docs' configuration reference).
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
        arguments = locals()  # exactly the settings (a test holds the signature to SETTINGS)
        config = settings.validate({name: arguments[name] for name in settings.DEFAULTS})
        if config["destinations"] is None:  # other destinations carry their own keys
            settings.check_write_key(write_key)
            config["destinations"] = [Segment(write_key or "", host=host, gzip=gzip, transport=transport)]
        elif isinstance(config["destinations"], Destination) or not config["destinations"]:
            raise ValidationError("destinations must be a non-empty list of Destination objects")
        self._remember(config)
        # Exit needs a deadline even when flush waits for outcomes: a process
        # manager's kill comes a few seconds after its SIGTERM (docs: process exit).
        self.exit_timeout = next(t for t in (exit_timeout, flush_timeout, DEFAULT_EXIT_TIMEOUT) if t is not None)
        self.log = log
        configure_logging(debug, log_handler)
        self._set_up_delivery(config)
        consumers = [route.consumer for route in self._routes]
        if send and not sync_mode:
            for consumer in consumers:
                register_exit_timeout(consumer, self.exit_timeout)
            if handle_sigterm:
                install_sigterm_handler()
        # A client dropped without shutdown(): let its uploaders drain and exit
        # (without blocking the thread that dropped it). Exit has its own hook.
        weakref.finalize(self, _release_consumers, consumers, self.exit_timeout).atexit = False

    def _set_up_delivery(self, config: Dict[str, Any]) -> None:
        """Counters, callbacks, plugins and a route (queue, uploader, transport) per destination."""
        self._callbacks = Callbacks(config["callback"])
        self._outcomes = Outcomes(config["on_error"], None, self._callbacks)  # what happens before routing
        reset_after_fork(self._outcomes)  # a child counts its own outcomes, with a lock no thread holds
        self._plugins_lock = threading.Lock()  # add/remove only; never held while plugin code runs
        self._event_plugins: Tuple[Any, ...] = ()
        self._plugin_workers: Dict[Any, PluginWorker] = {}
        self._routes: Tuple[Route, ...] = routes_for(config, self._callbacks)
        self.destinations: List[Destination] = [route.destination for route in self._routes]
        first = self._routes[0]
        self._consumer = first.consumer  # the default destination's (Segment-era name)
        self._transport = first.consumer.transport
        self.spool_error: Optional[str] = first.spool_error
        self.queue = _QueueView(self._consumer)
        self._single: Optional[Route] = first if len(self._routes) == 1 else None

    def _remember(self, config: Dict[str, Any]) -> None:
        """The settings as attributes, under segment-analytics-python's names."""
        self.write_key, self.host, self.debug = config["write_key"], config["host"], config["debug"]
        self.send, self.sync_mode, self.gzip = config["send"], config["sync_mode"], config["gzip"]
        self.timeout, self.proxies, self.max_retries = config["timeout"], config["proxies"], config["max_retries"]
        self.max_queue_size, self.thread = config["max_queue_size"], config["thread"]
        self.upload_size, self.backlog_upload_size = config["upload_size"], config["backlog_upload_size"]
        self.upload_interval: float = config["upload_interval"]
        self.max_total_backoff_duration: float = config["max_total_backoff_duration"]
        self.max_rate_limit_duration: Optional[float] = config["max_rate_limit_duration"]
        self.flush_timeout: Optional[float] = config["flush_timeout"]
        self.queue_full_timeout: float = config["queue_full_timeout"]
        self.opt_out, self.handle_sigterm, self.spool_path = config["opt_out"], config["handle_sigterm"], config["spool_path"]

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

    @hands_to_the_application  # (setup)
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

    # -- the path from call to queue ---------------------------------------------

    def _enqueue(self, msg: Dict[str, Any], callback: Optional[OutcomeCallback] = None) -> Result:
        if self._event_plugins:
            processed = dispatch.run_event_plugins(self._event_plugins, msg, self._outcomes)
            if processed is None:
                return False, msg
            msg = processed
        if self.opt_out:
            self._outcomes.count_quiet("opted_out")
            return True, msg
        route = self._single
        if route is not None and callback is None and not self._plugin_workers:
            return self._enqueue_one(route, msg)
        queued = dispatch.fan_out(self._routes, tuple(self._plugin_workers.values()), msg, callback, self._callbacks,
                                  send=self.send, sync_mode=self.sync_mode, wait=self.queue_full_timeout)
        return queued, msg

    def _enqueue_one(self, route: Route, msg: Dict[str, Any]) -> Result:
        """One destination, no per-call callback, no destination plugin: the common case."""
        if not route.destination.accepts(msg):  # integrations={"<Name>": False}
            route.outcomes.count_quiet("filtered")
            return True, msg
        # Encode once: the bytes are the immutable snapshot we queue, and their
        # length is the size the API will see.
        data = dispatch.encode_for(route, msg)
        if data is None:
            return False, msg
        if not self.send:
            return True, msg
        if self.sync_mode:
            return route.consumer.send_now(data), msg
        # dispatch.queue_one's steps, inline: this is every track()'s path, one call less.
        refused = route.consumer.put(data, self.queue_full_timeout)
        if refused is not None:
            route.outcomes.drop(refused, [data], dispatch.REFUSAL_DETAIL[refused])
            return False, msg
        return True, msg

    # -- for the SDK's own facades (amplitude, mparticle): public, not for applications ----

    def enqueue_prebuilt(self, destination: str, event: Dict[str, Any], insert_id: str) -> Optional[bool]:
        """A facade's fast path (docs/architecture/hot-path.md): ``event``, already in the format
        of ``destination``, is queued as it is when that is the only destination and nothing
        needs the message. None when the path does not apply: use :meth:`enqueue_message`."""
        route = self._single
        if (route is None or route.destination.name != destination or self._event_plugins or self._plugin_workers
                or self.opt_out or not self.send or self.sync_mode):
            return None
        return dispatch.queue_prebuilt(route, event, insert_id, self.queue_full_timeout)

    def enqueue_message(self, msg: Dict[str, Any], callback: Optional[OutcomeCallback] = None) -> Result:
        """Queue a message built elsewhere (a facade's own builder), through the plugins."""
        return self._enqueue(msg, callback)

    def count_filtered(self) -> None:
        """Count a message a facade's own plugin filtered out (``stats()['filtered']``)."""
        self._outcomes.count_quiet("filtered")

    def refuse(self, reason: str, msg: Dict[str, Any], detail: str) -> None:
        """Report a message a facade could not queue (counted, ``on_error``, callbacks)."""
        self._outcomes.drop(reason, [msg], detail)

    def tune(self, *, upload_size: int, upload_interval: float, max_retries: int, max_queue_size: int,
             backoff_base: Optional[float] = None) -> None:
        """Change batching, retries and queue size of a running client: the next batch uses them."""
        self.upload_size, self.upload_interval = upload_size, upload_interval
        self.max_retries, self.max_queue_size = max_retries, max_queue_size
        for route in self._routes:
            consumer = route.consumer
            policy = dataclasses.replace(consumer.retry_policy, max_retries=max_retries)
            if backoff_base is not None:
                policy = dataclasses.replace(policy, backoff_base=backoff_base)
            consumer.reconfigure(upload_size=upload_size, upload_interval=upload_interval,
                                 retry_policy=policy, max_queue_size=max_queue_size)

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
        waits for every outcome), then stop. Later calls return ``(False, msg)``.
        (In a signal handler over the SDK's own code: False at once, the client stays open.)"""
        if cannot_wait("shutdown"):
            return False
        deadline = self._deadline(timeout)
        end = float("inf") if deadline is None else deadline
        workers = self._workers()
        for worker in workers:
            worker.begin_shutdown(end)
        done = True
        for worker in workers:
            done = worker.finish_shutdown(end) and done
        _shut_down_plugins(self._event_plugins)
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
        return client_stats(self._outcomes, self._routes, self._plugin_workers.values())


def _release_consumers(consumers: List[Consumer], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for consumer in consumers:
        consumer.begin_shutdown(deadline)


def _shut_down_plugins(plugins: Sequence[Any]) -> None:
    for plugin in plugins:
        shutdown = getattr(plugin, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:  # noqa: BLE001 - user code
                log.exception("analytics_sdk: plugin shutdown() raised; ignoring")
