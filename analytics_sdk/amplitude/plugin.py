"""``amplitude.plugin``: plugins over event objects, as ``amplitude-analytics`` defines them.

* ``EventPlugin`` (BEFORE / ENRICHMENT): ``execute(event)`` returns the event,
  a replacement or None (dropped: counted as ``filtered``, no callback, as in
  Amplitude's SDK). By default ``execute`` dispatches to ``track``, ``identify``,
  ``group_identify`` or ``revenue``. They run on the caller's thread.
* ``DestinationPlugin``: gets a copy of every event on a worker thread of its
  own (never the caller's); ``self.timeline.process(event)`` runs the plugins
  added to it. Through :class:`PluginBridge` it is an ``analytics_sdk``
  destination plugin, so flush, shutdown, exit delivery and error reports apply.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from ..plugins import Plugin as _SdkPlugin, PluginType
from ..delivery.reentry import hands_to_the_application
from .event import (GROUP_IDENTIFY_EVENT, IDENTIFY_EVENT, REVENUE_EVENT, BaseEvent, GroupIdentifyEvent, IdentifyEvent,
                    RevenueEvent)
from .event_fields import WIRE_TO_ATTRIBUTE, IngestionMetadata, Plan

__all__ = ["PluginType", "Plugin", "EventPlugin", "DestinationPlugin", "Timeline", "PluginBridge"]

log = logging.getLogger("amplitude")


class Plugin:
    def __init__(self, plugin_type: PluginType) -> None:
        self.plugin_type = plugin_type

    def setup(self, client: Any) -> None:
        """Called with the ``Amplitude`` client when the plugin is added."""

    def execute(self, event: BaseEvent) -> Optional[BaseEvent]:  # pragma: no cover - abstract
        raise NotImplementedError


class EventPlugin(Plugin):
    def execute(self, event: BaseEvent) -> Optional[BaseEvent]:
        if isinstance(event, GroupIdentifyEvent):
            return self.group_identify(event)
        if isinstance(event, IdentifyEvent):
            return self.identify(event)
        if isinstance(event, RevenueEvent):
            return self.revenue(event)
        return self.track(event)

    def group_identify(self, event: GroupIdentifyEvent) -> Optional[GroupIdentifyEvent]:
        return event

    def identify(self, event: IdentifyEvent) -> Optional[IdentifyEvent]:
        return event

    def revenue(self, event: RevenueEvent) -> Optional[RevenueEvent]:
        return event

    def track(self, event: BaseEvent) -> Optional[BaseEvent]:
        return event


class Timeline:
    """Plugins applied in order: BEFORE, then ENRICHMENT, then DESTINATION (each gets the result)."""

    def __init__(self) -> None:
        self.configuration: Any = None
        self.plugins: Dict[PluginType, List[Any]] = {kind: [] for kind in PluginType}

    def setup(self, client: Any) -> None:
        self.configuration = getattr(client, "configuration", None)

    def add(self, plugin: Any) -> None:
        self.plugins[plugin.plugin_type] = self.plugins[plugin.plugin_type] + [plugin]

    def remove(self, plugin: Any) -> None:
        for kind in self.plugins:
            self.plugins[kind] = [p for p in self.plugins[kind] if p is not plugin]

    @property
    def logger(self) -> logging.Logger:
        return getattr(self.configuration, "logger", None) or log

    def process(self, event: Optional[BaseEvent]) -> Optional[BaseEvent]:
        if self.configuration is not None and getattr(self.configuration, "opt_out", False):
            self.logger.info("Skipped event for opt out config")
            return event
        for kind in (PluginType.BEFORE, PluginType.ENRICHMENT):
            event = apply(self.plugins[kind], event, self.logger)
        for destination in self.plugins[PluginType.DESTINATION]:
            if event is None:
                break
            try:
                destination.execute(event)
            except Exception:  # noqa: BLE001 - one plugin must not stop the others
                self.logger.exception("Error for apply DESTINATION plugin for event")
        return event

    def shutdown(self) -> None:
        for destination in self.plugins[PluginType.DESTINATION]:
            shutdown = getattr(destination, "shutdown", None)
            if callable(shutdown):
                shutdown()


@hands_to_the_application
def apply(plugins: List[Any], event: Optional[BaseEvent], logger: logging.Logger = log) -> Optional[BaseEvent]:
    """Run event plugins in order; a plugin that raises is logged (on ``logger``: the
    Config's) and skipped (Amplitude's rule)."""
    for plugin in plugins:
        if event is None:
            return None
        try:
            event = plugin.execute(event)
        except Exception:  # noqa: BLE001 - user code
            logger.exception("Error for apply %s plugin", plugin.plugin_type.name)
    return event


class DestinationPlugin(EventPlugin):
    def __init__(self) -> None:
        super().__init__(PluginType.DESTINATION)
        self.timeline = Timeline()

    def setup(self, client: Any) -> None:
        self.timeline.setup(client)

    def add(self, plugin: Any) -> "DestinationPlugin":
        self.timeline.add(plugin)
        return self

    def remove(self, plugin: Any) -> "DestinationPlugin":
        self.timeline.remove(plugin)
        return self

    def execute(self, event: BaseEvent) -> None:  # type: ignore[override]
        processed = self.timeline.process(event)
        if processed is not None:
            super().execute(processed)

    def shutdown(self) -> None:
        self.timeline.shutdown()

    def flush(self) -> None:
        """Override to send what the plugin buffers; called by ``Amplitude.flush``."""


class PluginBridge(_SdkPlugin):
    """An Amplitude-style destination plugin as an ``analytics_sdk`` destination plugin.

    It gets the canonical message, rebuilds the Amplitude event from it, and hands
    that to the plugin, on the plugin's own worker thread.
    """

    plugin_type = PluginType.DESTINATION

    def __init__(self, plugin: Any, library: str) -> None:
        super().__init__(PluginType.DESTINATION, name=type(plugin).__name__)
        self.plugin = plugin
        self.library = library

    def execute(self, message: Dict[str, Any]) -> None:  # type: ignore[override]
        self.plugin.execute(event_from_canonical(message, self.library))

    def shutdown(self) -> None:
        shutdown = getattr(self.plugin, "shutdown", None)
        if callable(shutdown):
            shutdown()


def event_from_canonical(message: Dict[str, Any], library: str) -> BaseEvent:
    """The Amplitude event a canonical message made by ``Amplitude.track`` carries."""
    fields = dict((message.get("integrations") or {}).get("Amplitude") or {})
    fields["insert_id"] = message.get("messageId")
    fields["library"] = library
    return event_from_wire(fields)


_CLASSES = {IDENTIFY_EVENT: IdentifyEvent, GROUP_IDENTIFY_EVENT: GroupIdentifyEvent, REVENUE_EVENT: RevenueEvent}


def event_from_wire(body: Dict[str, Any]) -> BaseEvent:
    """An event object for a wire dict (for callbacks and destination plugins)."""
    kind = body.get("event_type")
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    event = cls() if cls is not None else BaseEvent(kind if isinstance(kind, str) else "")
    values = event.__dict__
    for wire, value in body.items():
        name = WIRE_TO_ATTRIBUTE.get(wire)
        if name is None or name == "event_type":
            continue
        if name == "plan" and isinstance(value, dict):
            value = Plan(value.get("branch"), value.get("source"), value.get("version"), value.get("versionId"))
        elif name == "ingestion_metadata" and isinstance(value, dict):
            value = IngestionMetadata(value.get("source_name"), value.get("source_version"))
        values[name] = value
    return event
