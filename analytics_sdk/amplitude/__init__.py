"""Drop-in for ``amplitude-analytics``: change ``from amplitude import ...`` to
``from analytics_sdk.amplitude import ...`` and the same code runs on this SDK's
pipeline (bounded flush, fork safety, delivery at exit, optional disk spool,
per-event response handling, every drop reported). The reference's modules are
here under the same names (``constants``, ``event``, ``plugin``, ``config``,
``storage``, ``client``, ``http_client``, ``utils``, ``exception``), so
``import amplitude.<name>`` works once ``amplitude`` is aliased to this package.
docs/migrating/amplitude.md lists every difference.
"""

from . import constants, exception, utils
from .client import Amplitude
from .config import Config, EventLogLevel
from .constants import PluginType
from .event import (
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
from .plugin import DestinationPlugin, EventPlugin, Plugin
from .storage import InMemoryStorageProvider, SpoolStorageProvider, StorageProvider

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
    "constants",
    "exception",
    "utils",
]
