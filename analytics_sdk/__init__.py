"""analytics_sdk: a Segment-compatible server-side event-tracking SDK.

Drop-in for ``segment-analytics-python`` 2.x::

    import analytics_sdk as analytics
    analytics.write_key = "YOUR_WRITE_KEY"
    analytics.track("user-1", "Order Completed", {"revenue": 42})
    analytics.flush()

Module settings are read when the default client is created, on first use.
Changing one afterwards emits a ``RuntimeWarning`` and takes effect only for the
next default client (after ``shutdown()`` or ``default_client = None``).
"""

from __future__ import annotations

import os
import sys
import threading
import types
import warnings
from typing import Any, Dict, List, Optional

from . import process
from .builders import Identify, Payload, Revenue
from .client import Client, Result
from .delivery.callbacks import OutcomeCallback
from .delivery.outcomes import DROP_REASONS, ErrorCallback
from .destinations import Amplitude, CustomerIO, Destination, Hightouch, MParticle, RudderStack, Segment
from .errors import DeliveryError, ValidationError
from .messages import Id, Timestamp
from .plugins import DestinationPlugin, EventPlugin, Plugin, PluginType
from .version import VERSION

__version__ = VERSION

__all__ = [
    "Client",
    "DeliveryError",
    "ValidationError",
    "DROP_REASONS",
    "VERSION",
    "Destination",
    "Segment",
    "RudderStack",
    "Hightouch",
    "CustomerIO",
    "MParticle",
    "Amplitude",
    "Identify",
    "Revenue",
    "Plugin",
    "EventPlugin",
    "DestinationPlugin",
    "PluginType",
    "__version__",
    "default_client",
    # settings
    "write_key",
    "host",
    "on_error",
    "debug",
    "log_handler",
    "send",
    "sync_mode",
    "max_queue_size",
    "gzip",
    "timeout",
    "max_retries",
    "proxies",
    "thread",
    "upload_size",
    "upload_interval",
    "flush_timeout",
    "exit_timeout",
    "queue_full_timeout",
    "spool_path",
    "spool_max_messages",
    "spool_sync",
    "destinations",
    "callback",
    "opt_out",
    "handle_sigterm",
    "backlog_upload_size",
    # calls
    "identify",
    "track",
    "page",
    "screen",
    "group",
    "alias",
    "flush",
    "join",
    "shutdown",
    "stats",
    "add_plugin",
    "remove_plugin",
]

# -- settings (Segment's names and defaults) -----------------------------------------
write_key: Optional[str] = None
host: Optional[str] = None  # None means https://api.segment.io
on_error: Optional[ErrorCallback] = None
debug: bool = False
log_handler: Any = None
send: bool = True
sync_mode: bool = False
max_queue_size: int = 10000
gzip: bool = False
timeout: float = 15
max_retries: int = 10
proxies: Optional[Dict[str, str]] = None
thread: int = 1
upload_size: int = 100
upload_interval: float = 0.5
# additions
flush_timeout: Optional[float] = None  # None: flush() waits until every message reached an outcome
exit_timeout: Optional[float] = None  # None: flush_timeout if set, else 5 s
queue_full_timeout: float = 0.0
spool_path: Optional[str] = None  # an SQLite file: keeps the backlog on disk (off by default)
spool_max_messages: int = 1_000_000
spool_sync: bool = False
destinations: Optional[List[Destination]] = None  # None: Segment's API at host, with write_key
callback: Optional[OutcomeCallback] = None  # callback(event, code, message) for every outcome
opt_out: bool = False  # a runtime switch: calls validate but send nothing
handle_sigterm: bool = True  # deliver at SIGTERM (an application's own handler is kept, and runs first)
backlog_upload_size: int = 1000  # events per request while more than upload_size are queued (500 KB at most)

_SETTINGS = (
    "write_key",
    "host",
    "on_error",
    "debug",
    "log_handler",
    "send",
    "sync_mode",
    "max_queue_size",
    "gzip",
    "timeout",
    "max_retries",
    "proxies",
    "thread",
    "upload_size",
    "upload_interval",
    "flush_timeout",
    "exit_timeout",
    "queue_full_timeout",
    "spool_path",
    "spool_max_messages",
    "spool_sync",
    "destinations",
    "callback",
    "opt_out",
    "handle_sigterm",
    "backlog_upload_size",
)

# Settings that act on the live default client at once instead of waiting for the next one.
_RUNTIME_SETTINGS = ("opt_out", "callback", "on_error")

default_client: Optional[Client] = None
_client_lock = threading.Lock()
_client_lock_type = threading.Lock  # gevent/eventlet replace it when they patch (see _create_default_client)


def _reset_lock_after_fork() -> None:
    global _client_lock, _client_lock_type
    _client_lock, _client_lock_type = threading.Lock(), threading.Lock  # a parent thread may have held it at fork time


process.on_fork_child(_reset_lock_after_fork)


def _client() -> Client:
    client = default_client
    if client is None:
        client = _create_default_client()
    return client


def _create_default_client() -> Client:
    global default_client, _client_lock, _client_lock_type
    process.check()  # in a child forked behind Python's back, the parent's lock may be held
    if _client_lock_type is not threading.Lock and not _client_lock.locked():
        # Imported before gevent/eventlet patched threading (gunicorn --preload): a lock of
        # the blocking kind, held while Client() switches greenlets, would stop the process.
        _client_lock, _client_lock_type = threading.Lock(), threading.Lock
    with _client_lock:
        if default_client is None:
            module = sys.modules[__name__]
            default_client = Client(**{name: getattr(module, name) for name in _SETTINGS})
        return default_client


# RudderStack's SDK calls the host its data plane URL; accept its names too.
_HOST_ALIASES = ("dataPlaneUrl", "data_plane_url")


class _SettingsModule(types.ModuleType):
    """Warns when a setting changes after the default client already read it."""

    def __getattr__(self, name: str) -> Any:
        if name in _HOST_ALIASES:
            return self.host
        raise AttributeError(f"module 'analytics_sdk' has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOST_ALIASES:
            name = "host"
        if name in _RUNTIME_SETTINGS:
            client = self.__dict__.get("default_client")
            if client is not None:
                setattr(client, name, value)
        elif name in _SETTINGS:
            client = self.__dict__.get("default_client")
            if client is not None and getattr(client, name, value) != value:
                warnings.warn(
                    f"analytics_sdk.{name} was changed after the default client was created; "
                    "it applies to the next default client (call analytics_sdk.shutdown() "
                    "or set analytics_sdk.default_client = None)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _SettingsModule


# -- module functions over the default client ------------------------------------------


def identify(
    user_id: Optional[Id] = None,
    traits: Optional[Payload] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    anonymous_id: Optional[Id] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Tie a user to their traits. Returns ``(queued, message)``."""
    return _client().identify(user_id, traits, context, timestamp, anonymous_id, integrations, message_id, callback=callback)


def track(
    user_id: Optional[Id] = None,
    event: Optional[str] = None,
    properties: Optional[Payload] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    anonymous_id: Optional[Id] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Record that a user did something. Returns ``(queued, message)``."""
    return _client().track(user_id, event, properties, context, timestamp, anonymous_id, integrations, message_id, callback=callback)


def page(
    user_id: Optional[Id] = None,
    category: Optional[str] = None,
    name: Optional[str] = None,
    properties: Optional[Dict[str, Any]] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    anonymous_id: Optional[Id] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Record a page view. Returns ``(queued, message)``."""
    return _client().page(
        user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id, callback=callback
    )


def screen(
    user_id: Optional[Id] = None,
    category: Optional[str] = None,
    name: Optional[str] = None,
    properties: Optional[Dict[str, Any]] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    anonymous_id: Optional[Id] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Record a mobile screen view. Returns ``(queued, message)``."""
    return _client().screen(
        user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id, callback=callback
    )


def group(
    user_id: Optional[Id] = None,
    group_id: Optional[Id] = None,
    traits: Optional[Payload] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    anonymous_id: Optional[Id] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Associate a user with a group. Returns ``(queued, message)``."""
    return _client().group(user_id, group_id, traits, context, timestamp, anonymous_id, integrations, message_id, callback=callback)


def alias(
    previous_id: Optional[Id] = None,
    user_id: Optional[Id] = None,
    context: Optional[Dict[str, Any]] = None,
    timestamp: Optional[Timestamp] = None,
    integrations: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
    *,
    callback: Optional[OutcomeCallback] = None,
) -> Result:
    """Merge two identities. Returns ``(queued, message)``."""
    return _client().alias(previous_id, user_id, context, timestamp, integrations, message_id, callback=callback)


def flush(timeout: Optional[float] = None) -> bool:
    """Send what is queued now and wait until it reached an outcome (at most ``timeout``,
    default ``flush_timeout``; None waits as long as the retry policy allows)."""
    return _client().flush(timeout)


def join(timeout: Optional[float] = None) -> bool:
    """Segment's ``join``: deliver what is queued and stop the default client."""
    return shutdown(timeout)


def shutdown(timeout: Optional[float] = None) -> bool:
    """Deliver what is queued (bounded by ``timeout``) and stop the default client.

    The next module-level call creates a fresh default client, so code that calls
    ``shutdown()`` at the end of each job or Lambda invocation loses nothing.
    """
    global default_client
    process.check()  # in a child forked behind Python's back, the parent's lock may be held
    with _client_lock:
        client, default_client = default_client, None
    if client is None:
        return True
    return client.shutdown(timeout)


def stats() -> Dict[str, Any]:
    """The default client's counters (see ``Client.stats``)."""
    return _client().stats()


def add_plugin(plugin: Plugin) -> None:
    """Add a plugin to the default client (see ``analytics_sdk.plugins``)."""
    _client().add(plugin)


def remove_plugin(plugin: Plugin) -> None:
    """Remove a plugin from the default client."""
    _client().remove(plugin)
