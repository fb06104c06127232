"""``amplitude.client``: ``Amplitude``, the client of ``amplitude-analytics``, running on our pipeline.

Each event becomes a canonical message whose ``integrations["Amplitude"]``
carries the Amplitude fields, and goes through an ``analytics_sdk.Client`` with
one destination, :class:`analytics_sdk.wire.Amplitude`: the same queue,
uploader, retries, per-event reply reading, flush/exit/fork handling and drop
reports as every other destination.

The configuration is read when it is used, as the reference reads it: the
pipeline is built at the first event (so everything set before it applies in
full), and a later assignment to a setting it uses (``Config._version`` moved)
is applied before the next event is queued, or at ``flush()``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time as _time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ..payload_builders import Identify as _Identify, Revenue as _Revenue
from ..client import Client
from ..delivery.callbacks import outcome_attempts
from ..wire.amplitude import LIBRARY, Amplitude as AmplitudeDestination
from ..errors import DeliveryError
from ..messages import library_context, new_message_id, utc_now_iso
from . import constants
from .config import Config
from .constants import EventLogLevel
from .event import BaseEvent, EventOptions, GroupIdentifyEvent, Identify, IdentifyEvent, RevenueEvent
from .http_client import Sender
from .plugin import PluginBridge, PluginType, apply
from .storage import InMemoryStorageProvider, SpoolStorageProvider

__all__ = ["Amplitude"]

_utc = timezone.utc
_limits_log = logging.getLogger(constants.LOGGER_NAME)


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What the pipeline takes from a Config, checked (a bad number: the default, logged)."""

    api_key: Any
    url: str
    use_batch: bool
    min_id_length: Optional[int]
    upload_size: int
    upload_interval: float
    max_retries: int
    retry_base_interval: float
    retry_throttled_interval: float
    connection_timeout: float
    max_queue_size: int
    flush_timeout: Optional[float]
    problem: Optional[str]  # why nothing can be sent (no usable endpoint), or None


def _number(config: Config, name: str, default: Any, kind: type, minimum: float, problems: List[str]) -> Any:
    value = getattr(config, name, default)
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool) and value >= minimum
    if ok:
        return kind(value)
    problems.append(f"Config.{name} must be {'a number' if kind is float else 'an integer'} >= {minimum}, "
                    f"got {value!r}: {default!r} is used")
    return default


def _settings(config: Config) -> Tuple[_Settings, List[str]]:
    """The pipeline's settings from ``config``, and what is wrong with it (to log)."""
    problems: List[str] = []
    try:
        url = config.server_url
    except Exception:  # noqa: BLE001 - a server_zone of an odd type
        url = ""
    problem = None
    if not url:
        problem = f"Config.server_zone {config.server_zone!r} is neither 'US' nor 'EU': events cannot be sent"
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        problem = f"Config.server_url {url!r} is not an http:// or https:// URL: events cannot be sent"
    if problem:
        problems.append(problem)
        url = ""
    if not isinstance(config.api_key, str) or not config.api_key:
        problems.append("Config.api_key is not set: Amplitude will refuse the events")
    options = config.options
    min_id_length = options["min_id_length"] if options and not isinstance(options["min_id_length"], bool) else None
    if config.min_id_length is not None and min_id_length is None:
        problems.append(f"Config.min_id_length must be a positive integer, got {config.min_id_length!r}: not sent")
    flush_timeout = config.flush_timeout
    if flush_timeout is not None and (not isinstance(flush_timeout, (int, float)) or flush_timeout < 0):
        problems.append(f"Config.flush_timeout must be None or a number of seconds >= 0, got {flush_timeout!r}")
        flush_timeout = None
    api_key = config.api_key
    if api_key is not None and not isinstance(api_key, str):
        api_key = str(api_key)  # (the reference's worker fails on a key JSON cannot hold)
    settings = _Settings(
        api_key=api_key,
        url=url,
        use_batch=bool(config.use_batch),
        min_id_length=min_id_length,
        upload_size=_number(config, "flush_queue_size", constants.FLUSH_QUEUE_SIZE, int, 1, problems),
        upload_interval=_number(config, "flush_interval_millis", constants.FLUSH_INTERVAL_MILLIS, float, 1,
                                problems) / 1000.0,
        max_retries=_number(config, "flush_max_retries", constants.FLUSH_MAX_RETRIES, int, 0, problems),
        retry_base_interval=_number(config, "retry_base_interval", 0.1, float, 0, problems),
        retry_throttled_interval=_number(config, "retry_throttled_interval", 30.0, float, 0, problems),
        connection_timeout=_number(config, "connection_timeout", constants.CONNECTION_TIMEOUT, float, 0.001,
                                   problems),
        max_queue_size=_number(config, "max_storage_capacity", constants.MAX_BUFFER_CAPACITY, int, 1, problems),
        flush_timeout=float(flush_timeout) if flush_timeout is not None else None,
        problem=problem,
    )
    return settings, problems


class Amplitude:
    """Drop-in for ``amplitude.Amplitude``: ``Amplitude(api_key, configuration=Config(...))``."""

    def __init__(self, api_key: str, configuration: Optional[Config] = None) -> None:
        self.configuration = configuration or Config()
        self.configuration.api_key = api_key
        self._lock = threading.Lock()  # building the pipeline and applying the Config
        self._pipeline: Optional[Client] = None  # built at the first event (see _apply)
        self._destination: Optional[AmplitudeDestination] = None
        self._sender: Optional[Sender] = None
        self._applied = -1  # the Config._version the pipeline runs with
        self._problem: Optional[str] = None  # why events cannot be sent now, or None
        self._event_plugins: List[Any] = []  # BEFORE then ENRICHMENT, in the order added
        self._bridges: Dict[Any, PluginBridge] = {}

    # -- configuration, read when used -------------------------------------------------

    @property
    def _client(self) -> Client:
        """The pipeline (an ``analytics_sdk.Client``), built now if no event made it yet."""
        self._apply(self.configuration, build=True)
        assert self._pipeline is not None
        return self._pipeline

    def _apply(self, config: Config, build: bool) -> None:
        """Bring the pipeline to ``config``'s current settings (building it if ``build``)."""
        with self._lock:
            version = config._version  # read first: an assignment from here on is applied next time
            if version == self._applied and (self._pipeline is not None or not build):
                return
            if self._pipeline is None and not build:
                return  # nothing queued: the first event builds it with the Config as it is then
            settings, problems = _settings(config)
            if version != self._applied:
                for problem in problems:
                    config.logger.error(problem)
            try:
                if self._pipeline is None:
                    self._build(config, settings)
                else:
                    self._reconfigure(settings)
            except Exception:  # noqa: BLE001 - a drop-in logs where the reference would not raise
                config.logger.exception("The Amplitude client could not apply its Config")
                if self._pipeline is None:
                    return  # track() reports its events as not sent
                settings = dataclasses.replace(settings, problem="the Config could not be applied (see the log)")
            self._problem = settings.problem
            self._applied = version

    def _build(self, config: Config, settings: _Settings) -> None:
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
        pipeline = Client(
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
            pipeline.add(bridge)
        self._sender, self._destination = sender, destination
        self._reconfigure(settings, pipeline)
        config._bound = True
        self._pipeline = pipeline

    def _reconfigure(self, settings: _Settings, pipeline: Optional[Client] = None) -> None:
        """Apply ``settings`` to the running pipeline: the next request uses them."""
        pipeline = pipeline or self._pipeline
        destination, sender = self._destination, self._sender
        assert pipeline is not None and destination is not None and sender is not None
        if settings.url:  # else queued events keep the last usable endpoint; new ones are refused
            destination.reconfigure(settings.api_key, settings.min_id_length, settings.url)
            sender.set_url(settings.url)
        sender.timeout = settings.connection_timeout
        destination.retry_throttled_interval = settings.retry_throttled_interval
        pipeline.flush_timeout = settings.flush_timeout
        pipeline.tune(upload_size=settings.upload_size, upload_interval=settings.upload_interval,
                      max_retries=settings.max_retries, max_queue_size=settings.max_queue_size,
                      backoff_base=settings.retry_base_interval)  # Go's RetryBaseInterval: the first backoff wait

    def _on_drop(self, error: Exception, messages: List[Dict[str, Any]]) -> None:
        """What the reference logs on ``Config.logger`` when events are not delivered."""
        config = self.configuration
        if isinstance(error, DeliveryError) and error.reason == "unauthorized":
            config.logger.error("Invalid API Key")
            return
        level = config.event_log_level
        if level is EventLogLevel.NONE:
            return
        log = config.logger.debug if level is EventLogLevel.DEBUG else config.logger.info
        log("%d event(s) not delivered: %s", len(messages), error)

    # -- calls --------------------------------------------------------------------------

    def track(self, event: BaseEvent) -> None:
        """Process and send ``event``."""
        config = self.configuration
        if config.opt_out:
            config.logger.info("Skipped event for opt out config")
            return
        if config._version != self._applied or self._pipeline is None:
            self._apply(config, build=True)
        pipeline = self._pipeline
        if pipeline is None:  # it could not be built (logged): the event is reported, not raised
            if config.callback is not None or event.event_callback is not None:
                self._reporter(event)({}, 0, "the Config could not be applied (see the log)")
            return
        if self._event_plugins:
            processed = apply(self._event_plugins, event, config.logger)
            if processed is None:
                pipeline.count_filtered()
                return
            event = processed
        if config.plan is not None and event.plan is None:
            event.plan = config.plan
        if config.ingestion_metadata is not None and event.ingestion_metadata is None:
            event.ingestion_metadata = config.ingestion_metadata
        fields = event._wire_fields()
        ms = fields.get("time")
        if ms is None:
            now = _time.time()
            fields["time"] = int(now * 1000)
            timestamp = utc_now_iso()
        else:
            timestamp = datetime.fromtimestamp(ms / 1000.0, _utc).isoformat()
        message = {
            "type": "track",
            "messageId": fields.pop("insert_id", None) or new_message_id(),
            "timestamp": timestamp,
            "userId": fields.get("user_id"),
            "anonymousId": fields.get("device_id"),
            "context": library_context(),  # its own: plugins may change it
            "integrations": {"Amplitude": fields},
            "event": fields.get("event_type"),
            "properties": fields.get("event_properties") or {},
        }
        fields.pop("library", None)  # the destination names us
        callback = None
        if config.callback is not None or event.event_callback is not None:
            callback = self._reporter(event)
        if self._problem is not None:
            self._refuse(pipeline, message, callback, self._problem)
            return
        pipeline.enqueue_message(message, callback)

    def _refuse(self, pipeline: Client, message: Dict[str, Any], callback: Optional[Callable[..., Any]],
                detail: str) -> None:
        """Report an event the current Config cannot send (counted, on_error, callbacks: code 0)."""
        pipeline.refuse("invalid", message, detail)
        if callback is not None:
            callback(message, 0, detail)

    def _reporter(self, event: BaseEvent) -> Callable[[Dict[str, Any], int, str], None]:
        def report(_wire: Dict[str, Any], code: int, message: str) -> None:
            # Amplitude's order: the client's callback, then the event's own; both read now.
            event.retry = max(0, outcome_attempts() - 1)  # resends before this outcome
            config = self.configuration
            hook = config.callback
            try:
                if hook is not None:
                    hook(event, code, message)
                event.callback(code, message)
            except Exception:  # noqa: BLE001 - user code
                config.logger.exception("Error callback for event")

        return report

    def identify(self, identify_obj: _Identify, event_options: Optional[EventOptions] = None,
                 event_properties: Optional[dict] = None) -> None:
        """Update user properties with the operations of ``identify_obj``."""
        if not identify_obj.is_valid():
            self.configuration.logger.error("Empty identify properties")
            return
        event = IdentifyEvent(event_properties=event_properties, user_properties=identify_obj.user_properties)
        event.load_event_options(event_options)
        self.track(event)

    def group_identify(self, group_type: str, group_name: str, identify_obj: _Identify,
                       event_options: Optional[EventOptions] = None, event_properties: Optional[dict] = None,
                       user_properties: Optional[dict] = None) -> None:
        """Update the properties of group ``group_type``/``group_name``."""
        if not identify_obj.is_valid():
            self.configuration.logger.error("Empty group identify properties")
            return
        event = GroupIdentifyEvent(event_properties=event_properties, user_properties=user_properties,
                                   groups={group_type: group_name}, group_properties=identify_obj.user_properties)
        event.load_event_options(event_options)
        self.track(event)

    def revenue(self, revenue_obj: _Revenue, event_options: Optional[EventOptions] = None) -> None:
        """Record a purchase as a ``revenue_amount`` event."""
        if not revenue_obj.is_valid():
            self.configuration.logger.error("Invalid price for revenue event")
            return
        event = RevenueEvent(event_properties=revenue_obj.amplitude_properties())
        event.load_event_options(event_options)
        self.track(event)

    def set_group(self, group_type: str, group_name: Union[str, List[str]],
                  event_options: Optional[EventOptions] = None) -> None:
        """Put the user in group(s): ``groups`` plus a ``$set`` of the group type."""
        identify = Identify().set(group_type, group_name)
        event = IdentifyEvent(groups={group_type: group_name}, user_properties=identify.user_properties)
        event.load_event_options(event_options)
        self.track(event)

    # -- plugins ------------------------------------------------------------------------

    def add(self, plugin: Any) -> "Amplitude":
        """Add a plugin: BEFORE/ENRICHMENT run on the caller's thread, DESTINATION on its own."""
        kind = getattr(plugin, "plugin_type", None)
        if kind is PluginType.DESTINATION:
            plugin.setup(self)
            bridge = PluginBridge(plugin, LIBRARY)
            with self._lock:
                self._bridges[plugin] = bridge
                pipeline = self._pipeline
            if pipeline is not None:  # else the pipeline adds it when it is built
                pipeline.add(bridge)
            return self
        if kind not in (PluginType.BEFORE, PluginType.ENRICHMENT):
            # The reference fails inside its timeline; a drop-in logs instead of raising.
            self.configuration.logger.error(
                "Plugin %s not added: its plugin_type must be BEFORE, ENRICHMENT or DESTINATION, got %r",
                type(plugin).__name__, kind)
            return self
        plugin.setup(self)
        plugins = self._event_plugins + [plugin]
        plugins.sort(key=lambda p: p.plugin_type.value)  # stable: BEFORE first, each in the order added
        self._event_plugins = plugins
        return self

    def remove(self, plugin: Any) -> "Amplitude":
        with self._lock:
            bridge = self._bridges.pop(plugin, None)
            pipeline = self._pipeline
        if bridge is not None and pipeline is not None:
            pipeline.remove(bridge)
        self._event_plugins = [p for p in self._event_plugins if p is not plugin]
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> List["concurrent.futures.Future[bool]"]:
        """Send what is queued (with the Config as it is now) and wait until each event
        reached an outcome (callbacks fired). Returns one finished future (result: whether
        everything finished in time), so code that waits on ``flush()``'s futures keeps working."""
        config = self.configuration
        if config._version != self._applied:
            self._apply(config, build=False)
        for plugin in list(self._bridges):
            flush = getattr(plugin, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception:  # noqa: BLE001 - user code
                    config.logger.exception("Error for flush events")
        pipeline = self._pipeline
        done: "concurrent.futures.Future[bool]" = concurrent.futures.Future()
        done.set_result(pipeline.flush(timeout) if pipeline is not None else True)
        return [done]

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (bounded by ``timeout`` or ``Config.flush_timeout``), then stop.
        Later events are skipped, as after Amplitude's ``shutdown()``."""
        config = self.configuration
        if config._version != self._applied:
            self._apply(config, build=False)
        config.opt_out = True
        pipeline = self._pipeline
        if pipeline is not None:
            return pipeline.shutdown(timeout)
        for plugin in list(self._bridges):  # never built: the destination plugins still hear of it
            shutdown = getattr(plugin, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # noqa: BLE001 - user code
                    config.logger.exception("Error for shutdown")
        return True

    def stats(self) -> Dict[str, Any]:
        """The pipeline's counters (``analytics_sdk.Client.stats``)."""
        return self._client.stats()
