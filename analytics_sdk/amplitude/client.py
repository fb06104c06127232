"""``amplitude.client``: ``Amplitude``, the client of ``amplitude-analytics``, running on our pipeline.

Each event becomes a canonical message whose ``integrations["Amplitude"]``
carries the Amplitude fields, and goes through an ``analytics_sdk.Client`` with
one destination, :class:`analytics_sdk.wire.Amplitude`: the same queue,
uploader, retries, per-event reply reading, flush/exit/fork handling and drop
reports as every other destination.

The configuration is read when it is used, as the reference reads it
(``pipeline.py`` builds the pipeline at the first event and applies later
assignments; ``pipeline_settings.py`` checks what it takes from the Config).
"""

from __future__ import annotations

import concurrent.futures
import time as _time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Union

from ..payload_builders import Identify as _Identify, Revenue as _Revenue
from ..client import Client
from ..delivery.callbacks import outcome_attempts
from ..delivery.reentry import cannot_wait, hands_to_the_application
from ..wire.amplitude import LIBRARY
from ..errors import DeliveryError
from ..stamps import library_context, new_message_id, utc_now_iso
from .config import Config
from .constants import EventLogLevel
from .event import BaseEvent, EventOptions, GroupIdentifyEvent, Identify, IdentifyEvent, RevenueEvent
from .pipeline import Pipeline
from .plugin import PluginBridge, PluginType, apply

__all__ = ["Amplitude"]

_utc = timezone.utc


def _iso_time(ms: Optional[int]) -> str:
    """The message's timestamp for an event ``time`` (ms). A time out of datetime's range
    is still sent as given, as amplitude-analytics sends it: the message gets the call's time."""
    if ms is None:
        return utc_now_iso()
    try:
        return datetime.fromtimestamp(ms / 1000.0, _utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return utc_now_iso()


class Amplitude:
    """Drop-in for ``amplitude.Amplitude``: ``Amplitude(api_key, configuration=Config(...))``."""

    def __init__(self, api_key: str, configuration: Optional[Config] = None) -> None:
        self.configuration = configuration or Config()
        self.configuration.api_key = api_key
        self._pipeline = Pipeline(self._on_drop)  # its client is built at the first event
        self._event_plugins: List[Any] = []  # BEFORE then ENRICHMENT, in the order added

    # -- configuration, read when used -------------------------------------------------

    @property
    def _client(self) -> Client:
        """The pipeline (an ``analytics_sdk.Client``), built now if no event made it yet."""
        self._pipeline.apply(self.configuration, build=True)
        assert self._pipeline.client is not None
        return self._pipeline.client

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
        state = self._pipeline
        pipeline = state.client
        if config._version != state.applied or pipeline is None:
            applied = state.apply(config, build=True)
            pipeline = state.client
            if pipeline is None and not applied:  # a signal handler over the first build: send it after
                state.when_applied(lambda: self.track(event))
                return
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
        plan, metadata = config.plan, config.ingestion_metadata
        if plan is not None and event.plan is None:
            event.plan = plan
        if metadata is not None and event.ingestion_metadata is None:
            event.ingestion_metadata = metadata
        fields = event._wire_fields()
        ms = fields.get("time")
        if ms is None:
            fields["time"] = int(_time.time() * 1000)
        insert_id = fields.pop("insert_id", None) or new_message_id()
        if "library" in fields:
            del fields["library"]  # the destination names us
        callback = None
        if config.callback is not None or event.event_callback is not None:
            callback = self._reporter(event)
        problem = state.problem
        if callback is None and problem is None:
            # Nothing needs the Segment-shaped message: the event goes as it is (hot path).
            queued = pipeline.enqueue_prebuilt("Amplitude", fields, insert_id)
            if queued is not None:
                return
        message = {
            "type": "track",
            "messageId": insert_id,
            "timestamp": _iso_time(ms),
            "userId": fields.get("user_id"),
            "anonymousId": fields.get("device_id"),
            "context": library_context(),  # its own: plugins may change it
            "integrations": {"Amplitude": fields},
            "event": fields.get("event_type"),
            "properties": fields.get("event_properties") or {},
        }
        if problem is not None:
            self._refuse(pipeline, message, callback, problem)
            return
        pipeline.enqueue_message(message, callback)

    def _refuse(self, pipeline: Client, message: Dict[str, Any], callback: Optional[Callable[..., Any]],
                detail: str) -> None:
        """Report an event the current Config cannot send (counted, on_error, callbacks: code 0)."""
        pipeline.refuse("invalid", message, detail)
        if callback is not None:
            callback(message, 0, detail)

    def _reporter(self, event: BaseEvent) -> Callable[[Dict[str, Any], int, str], None]:
        @hands_to_the_application
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

    @hands_to_the_application  # (setup)
    def add(self, plugin: Any) -> "Amplitude":
        """Add a plugin: BEFORE/ENRICHMENT run on the caller's thread, DESTINATION on its own."""
        kind = getattr(plugin, "plugin_type", None)
        if kind is PluginType.DESTINATION:
            plugin.setup(self)
            self._pipeline.add_destination(plugin, PluginBridge(plugin, LIBRARY))
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
        self._pipeline.remove_destination(plugin)
        self._event_plugins = [p for p in self._event_plugins if p is not plugin]
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> List["concurrent.futures.Future[bool]"]:
        """Send what is queued (with the Config as it is now) and wait until each event
        reached an outcome (callbacks fired). Returns one finished future (result: whether
        everything finished in time), so code that waits on ``flush()``'s futures keeps working."""
        config = self.configuration
        if config._version != self._pipeline.applied:
            self._pipeline.apply(config, build=False)
        for plugin in self._pipeline.destination_plugins():
            flush = getattr(plugin, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception:  # noqa: BLE001 - user code
                    config.logger.exception("Error for flush events")
        pipeline = self._pipeline.client
        done: "concurrent.futures.Future[bool]" = concurrent.futures.Future()
        done.set_result(pipeline.flush(timeout) if pipeline is not None else True)
        return [done]

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (bounded by ``timeout`` or ``Config.flush_timeout``), then stop.
        Later events are skipped, as after Amplitude's ``shutdown()``. (In a signal handler
        over the SDK's own code: False at once, the client stays open.)"""
        if cannot_wait("shutdown"):
            return False
        config = self.configuration
        if config._version != self._pipeline.applied:
            self._pipeline.apply(config, build=False)
        config.opt_out = True
        pipeline = self._pipeline.client
        if pipeline is not None:
            return pipeline.shutdown(timeout)
        for plugin in self._pipeline.destination_plugins():  # never built: the destination plugins still hear of it
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
