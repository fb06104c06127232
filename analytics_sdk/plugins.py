"""Plugins in the Amplitude style: ``client.add(plugin)`` / ``client.remove(plugin)``.

* ``BEFORE`` and ``ENRICHMENT`` plugins run in that order (each type in the order
  added) on the caller's thread, inside ``track()`` and friends, before the
  message is encoded. ``execute(message)`` gets the canonical message (a
  Segment-spec dict whose top level and nested dicts are its own copy) and
  returns it, a replacement, or None to drop it (counted as ``filtered``, never
  reported as an error). A plugin that raises drops the message with reason
  ``plugin_error`` (reported through ``on_error``) and the call returns
  ``(False, message)``: a failing scrubber must not let unscrubbed data through.
* ``DESTINATION`` plugins receive every message after enrichment on a worker
  thread of their own with a bounded queue, so a slow or raising plugin never
  blocks or breaks the call; what they raise is reported as ``plugin_error``.

``setup(client)`` runs when the plugin is added; ``shutdown()`` when it is
removed or the client shuts down. No SDK lock is held while plugin code runs.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional

__all__ = ["PluginType", "Plugin", "EventPlugin", "DestinationPlugin"]


class PluginType(enum.Enum):
    BEFORE = 0
    ENRICHMENT = 1
    DESTINATION = 2
    OBSERVE = 3  # amplitude-analytics names it but runs no such plugin: refused by add()


class Plugin:
    """Base of all plugins. Override ``execute``; ``setup`` and ``shutdown`` are optional."""

    plugin_type: PluginType = PluginType.ENRICHMENT

    def __init__(self, plugin_type: Optional[PluginType] = None, name: Optional[str] = None) -> None:
        if plugin_type is not None:
            self.plugin_type = plugin_type
        self.name = name or type(self).__name__

    def setup(self, client: Any) -> None:
        """Called once when the plugin is added to ``client``."""

    def execute(self, event: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Return the (possibly modified) message, or None to drop it."""
        return event

    def shutdown(self) -> None:
        """Called when the plugin is removed or its client shuts down."""


class EventPlugin(Plugin):
    """A before or enrichment plugin (``plugin_type`` defaults to ENRICHMENT)."""


class DestinationPlugin(Plugin):
    """Gets each message on its own worker thread; its return value is ignored."""

    plugin_type = PluginType.DESTINATION
