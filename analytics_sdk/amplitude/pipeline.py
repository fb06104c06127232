"""The ``analytics_sdk.Client`` an ``Amplitude`` client runs on, kept at its Config.

It is built at the first event (so everything set before it applies in full),
with one destination, :class:`analytics_sdk.wire.Amplitude`, plus a bridge per
destination plugin; a later assignment to a setting it uses (``Config._version``
moved) is applied before the next event is queued, or at ``flush()``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable, Dict, List, Optional

from ..client import Client
from ..wire.amplitude import Amplitude as AmplitudeDestination
from . import constants
from .config import Config
from .http_client import Sender
from .pipeline_settings import PipelineSettings, read_settings
from .plugin import PluginBridge
from .storage import InMemoryStorageProvider, SpoolStorageProvider

__all__ = ["Pipeline"]

_limits_log = logging.getLogger(constants.LOGGER_NAME)


class Pipeline:
    """One Amplitude client's pipeline: ``client`` (None until built), the Config version
    it runs with (``applied``) and why events cannot be sent now (``problem``)."""

    def __init__(self, on_drop: Callable[[Exception, List[Dict[str, Any]]], None]) -> None:
        self._on_drop = on_drop
        # Building, applying the Config, the destination plugins. Reentrant: a signal handler's
        # track() may interrupt an apply on its own thread (see apply).
        self._lock = threading.RLock()
        self._applying = False
        self._after_apply: List[Callable[[], None]] = []
        self.client: Optional[Client] = None
        self._destination: Optional[AmplitudeDestination] = None
        self._sender: Optional[Sender] = None
        self.applied = -1  # the Config._version the pipeline runs with
        self.problem: Optional[str] = None
        self._bridges: Dict[Any, PluginBridge] = {}

    def apply(self, config: Config, build: bool) -> bool:
        """Bring the pipeline to ``config``'s current settings (building it if ``build``).

        False, doing nothing, in a signal handler that interrupted an apply on this
        thread: the interrupted one finishes it (``when_applied`` runs code after it)."""
        with self._lock:
            if self._applying:
                return False
            try:
                self._applying = True
                self._apply(config, build)
            finally:
                self._applying = False
                while self._after_apply:  # (a handler's, queued while the lock was ours)
                    self._after_apply.pop(0)()
            return True

    def when_applied(self, call: Callable[[], None]) -> None:
        """(a signal handler over ``apply`` on this thread) Run ``call`` once that apply ends."""
        self._after_apply.append(call)

    def _apply(self, config: Config, build: bool) -> None:
        version = config._version  # read first: an assignment from here on is applied next time
        if version == self.applied and (self.client is not None or not build):
            return
        if self.client is None and not build:
            return  # nothing queued: the first event builds it with the Config as it is then
        settings, problems = read_settings(config)
        if version != self.applied:
            for problem in problems:
                config.logger.error(problem)
        try:
            if self.client is None:
                self._build(config, settings)
            else:
                self._reconfigure(settings)
        except Exception:  # noqa: BLE001 - a drop-in logs where the reference would not raise
            config.logger.exception("The Amplitude client could not apply its Config")
            if self.client is None:
                return  # track() reports its events as not sent
            settings = dataclasses.replace(settings, problem="the Config could not be applied (see the log)")
        self.problem = settings.problem
        self.applied = version

    def _build(self, config: Config, settings: PipelineSettings) -> None:
        destination = AmplitudeDestination(
            "-",  # replaced at once by reconfigure(), which takes a missing key too
            use_batch=settings.use_batch,
            retry_throttled_interval=settings.retry_throttled_interval,
        )
        sender = Sender(destination.headers(), settings.connection_timeout)
        destination.transport = sender
        destination.limits_log, destination.limits_message = _limits_log, "Too many properties. %d maximum."
        storage = config.storage_provider
        spool = storage if isinstance(storage, SpoolStorageProvider) else None
        if spool is None and not isinstance(storage, InMemoryStorageProvider):
            config.logger.warning(
                "Config.storage_provider %s is not used: events wait in this SDK's queue in memory "
                "(SpoolStorageProvider(path) keeps them on disk)", type(storage).__name__)
        client = Client(
            destinations=[destination],
            upload_size=settings.upload_size,
            upload_interval=settings.upload_interval,
            max_retries=settings.max_retries,
            max_queue_size=settings.max_queue_size,
            timeout=settings.connection_timeout,
            flush_timeout=settings.flush_timeout,
            spool_path=spool.path if spool else None,
            spool_max_messages=spool.max_messages if spool else 1_000_000,
            on_error=self._on_drop,
        )
        for bridge in self._bridges.values():
            client.add(bridge)
        self._sender, self._destination = sender, destination
        self._reconfigure(settings, client)
        config._bound = True
        self.client = client

    def _reconfigure(self, settings: PipelineSettings, client: Optional[Client] = None) -> None:
        """Apply ``settings`` to the running pipeline: the next request uses them."""
        client = client or self.client
        destination, sender = self._destination, self._sender
        assert client is not None and destination is not None and sender is not None
        if settings.url:  # else queued events keep the last usable endpoint; new ones are refused
            destination.reconfigure(settings.api_key, settings.min_id_length, settings.url)
            sender.set_url(settings.url)
        sender.timeout = settings.connection_timeout
        destination.retry_throttled_interval = settings.retry_throttled_interval
        client.flush_timeout = settings.flush_timeout
        client.tune(upload_size=settings.upload_size, upload_interval=settings.upload_interval,
                    max_retries=settings.max_retries, max_queue_size=settings.max_queue_size,
                    backoff_base=settings.retry_base_interval)  # Go's RetryBaseInterval: the first backoff wait

    # -- destination plugins, each on its own worker (a bridge) -------------------------

    def add_destination(self, plugin: Any, bridge: PluginBridge) -> None:
        with self._lock:
            self._bridges[plugin] = bridge
            client = self.client
        if client is not None:  # else _build adds it
            client.add(bridge)

    def remove_destination(self, plugin: Any) -> None:
        with self._lock:
            bridge = self._bridges.pop(plugin, None)
            client = self.client
        if bridge is not None and client is not None:
            client.remove(bridge)

    def destination_plugins(self) -> List[Any]:
        return list(self._bridges)
