"""``Amplitude``: the client of ``amplitude-analytics``, running on our pipeline.

Each event becomes a canonical message whose ``integrations["Amplitude"]``
carries the Amplitude fields, and goes through an ``analytics_sdk.Client`` with
one destination, :class:`analytics_sdk.destinations.Amplitude`: the same queue,
uploader, retries, per-event reply reading, flush/exit/fork handling and drop
reports as every other destination.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time as _time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Union

from ..builders import Identify
from ..client import Client
from ..destinations.amplitude import LIBRARY, Amplitude as AmplitudeDestination
from ..messages import library_context, new_message_id, utc_now_iso
from .config import Config, SpoolStorageProvider
from ..builders import Revenue as _Revenue
from .events import BaseEvent, EventOptions, GroupIdentifyEvent, IdentifyEvent, RevenueEvent
from .plugins import PluginBridge, PluginType, apply

__all__ = ["Amplitude"]

_utc = timezone.utc


class Amplitude:
    """Drop-in for ``amplitude.Amplitude``: ``Amplitude(api_key, configuration=Config(...))``."""

    def __init__(self, api_key: str, configuration: Optional[Config] = None) -> None:
        self.configuration = configuration or Config()
        self.configuration.api_key = api_key
        config = self.configuration
        destination = AmplitudeDestination(
            api_key,
            server_zone=config.server_zone,
            use_batch=config.use_batch,
            server_url=config._url or None,
            min_id_length=config.min_id_length,
            retry_throttled_interval=config.retry_throttled_interval,
        )
        storage = config.storage_provider
        spool = storage if isinstance(storage, SpoolStorageProvider) else None
        self._client = Client(
            destinations=[destination],
            upload_size=config.flush_queue_size,
            upload_interval=config.flush_interval_millis / 1000.0,
            max_retries=config.flush_max_retries,
            max_queue_size=config.max_storage_capacity,
            timeout=config.connection_timeout,
            flush_timeout=config.flush_timeout,
            spool_path=spool.path if spool else None,
            spool_max_messages=spool.max_messages if spool else 1_000_000,
        )
        consumer = self._client._consumer  # Go's RetryBaseInterval: the first backoff wait
        consumer.retry_policy = dataclasses.replace(consumer.retry_policy, backoff_base=config.retry_base_interval)
        self._event_plugins: List[Any] = []  # BEFORE then ENRICHMENT, in the order added
        self._bridges: Dict[Any, PluginBridge] = {}

    # -- calls --------------------------------------------------------------------------

    def track(self, event: BaseEvent) -> None:
        """Process and send ``event``."""
        config = self.configuration
        if config.opt_out:
            return
        if self._event_plugins:
            processed = apply(self._event_plugins, event)
            if processed is None:
                self._client._outcomes.count_quiet("filtered")
                return
            event = processed
        if config.plan is not None and event.plan is None:
            event.plan = config.plan
        if config.ingestion_metadata is not None and event.ingestion_metadata is None:
            event.ingestion_metadata = config.ingestion_metadata
        fields = event.get_event_body()
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
        self._client._enqueue(message, callback)

    def _reporter(self, event: BaseEvent) -> Callable[[Dict[str, Any], int, str], None]:
        config = self.configuration

        def report(_wire: Dict[str, Any], code: int, message: str) -> None:
            # Amplitude's order: the client's callback, then the event's own.
            hook = config.callback
            if hook is not None:
                try:
                    hook(event, code, message)
                except Exception:  # noqa: BLE001 - user code
                    config.logger.exception("Error callback for event %s", event)
            event.callback(code, message)

        return report

    def identify(self, identify_obj: Identify, event_options: Optional[EventOptions] = None,
                 event_properties: Optional[dict] = None) -> None:
        """Update user properties with the operations of ``identify_obj``."""
        if not identify_obj.is_valid():
            self.configuration.logger.error("Empty identify properties")
            return
        event = IdentifyEvent(event_properties=event_properties, user_properties=identify_obj.user_properties)
        event.load_event_options(event_options)
        self.track(event)

    def group_identify(self, group_type: str, group_name: str, identify_obj: Identify,
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
        event = IdentifyEvent(groups={group_type: group_name}, user_properties={"$set": {group_type: group_name}})
        event.load_event_options(event_options)
        self.track(event)

    # -- plugins ------------------------------------------------------------------------

    def add(self, plugin: Any) -> "Amplitude":
        """Add a plugin: BEFORE/ENRICHMENT run on the caller's thread, DESTINATION on its own."""
        kind = getattr(plugin, "plugin_type", None)
        if kind is PluginType.DESTINATION:
            plugin.setup(self)
            bridge = PluginBridge(plugin, LIBRARY)
            self._bridges[plugin] = bridge
            self._client.add(bridge)
            return self
        if kind not in (PluginType.BEFORE, PluginType.ENRICHMENT):
            raise TypeError(f"a plugin needs plugin_type BEFORE, ENRICHMENT or DESTINATION, got {kind!r}")
        plugin.setup(self)
        plugins = self._event_plugins + [plugin]
        plugins.sort(key=lambda p: p.plugin_type.value)  # stable: BEFORE first, each in the order added
        self._event_plugins = plugins
        return self

    def remove(self, plugin: Any) -> "Amplitude":
        bridge = self._bridges.pop(plugin, None)
        if bridge is not None:
            self._client.remove(bridge)
        self._event_plugins = [p for p in self._event_plugins if p is not plugin]
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> List["concurrent.futures.Future[bool]"]:
        """Send what is queued and wait until each event reached an outcome (callbacks
        fired). Returns one finished future (result: whether everything finished in
        time), so code that waits on ``flush()``'s futures keeps working."""
        for plugin in list(self._bridges):
            flush = getattr(plugin, "flush", None)
            if callable(flush):
                try:
                    flush()
                except Exception:  # noqa: BLE001 - user code
                    self.configuration.logger.exception("Error for flush events")
        done: "concurrent.futures.Future[bool]" = concurrent.futures.Future()
        done.set_result(self._client.flush(timeout))
        return [done]

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued (bounded by ``timeout`` or ``Config.flush_timeout``), then stop.
        Later events are skipped, as after Amplitude's ``shutdown()``."""
        self.configuration.opt_out = True
        return self._client.shutdown(timeout)

    def stats(self) -> Dict[str, Any]:
        """The pipeline's counters (``analytics_sdk.Client.stats``)."""
        return self._client.stats()
