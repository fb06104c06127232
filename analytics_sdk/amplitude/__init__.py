"""Drop-in for ``amplitude-analytics``: change ``from amplitude import ...`` to
``from analytics_sdk.amplitude import ...`` and the same code runs on this SDK's
pipeline (bounded flush, fork safety, delivery at exit, optional disk spool,
per-event response handling, every drop reported). See README.rst, "Migrating
from amplitude-analytics", for the differences.
"""

from ..plugins import PluginType
from .client import Amplitude
from .config import Config, EventLogLevel, InMemoryStorageProvider, SpoolStorageProvider, StorageProvider
from .events import (
    BaseEvent,
    EventOptions,
    GroupIdentifyEvent,
    Identify,
    IdentifyEvent,
    IngestionMetadata,
    Plan,
    Revenue,
    RevenueEvent,
)
from .plugins import DestinationPlugin, EventPlugin, Plugin

__all__ = [
    "Amplitude",
    "Config",
    "EventLogLevel",
    "StorageProvider",
    "InMemoryStorageProvider",
    "SpoolStorageProvider",
    "BaseEvent",
    "EventOptions",
    "IdentifyEvent",
    "GroupIdentifyEvent",
    "RevenueEvent",
    "Identify",
    "Revenue",
    "Plan",
    "IngestionMetadata",
    "Plugin",
    "EventPlugin",
    "DestinationPlugin",
    "PluginType",
]
