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

import difflib
import sys
import threading
import types
import warnings
from typing import Any, Dict, List, Optional

from . import process, settings
from .payload_builders import Identify, Payload, Revenue
from .client import Client, Result
from .delivery.callbacks import OutcomeCallback
from .delivery.outcomes import DROP_REASONS, ErrorCallback
from .delivery.reentry import cannot_wait
from .wire import Amplitude, CustomerIO, Destination, Hightouch, MParticle, RudderStack, Segment
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
    # settings: every name in analytics_sdk.settings.SETTINGS (added below)
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

# -- settings: Segment's names and defaults, and the additions (settings.SETTINGS) -------
# Declared for type checkers and IDEs (a test holds these names to SETTINGS); the values
# come from SETTINGS just below.
write_key: Optional[str]
host: Optional[str]
debug: bool
max_queue_size: int
send: bool
on_error: Optional[ErrorCallback]
gzip: bool
max_retries: int
sync_mode: bool
timeout: float
proxies: Optional[Dict[str, str]]
thread: int
upload_size: int
upload_interval: float
log_handler: Any
max_total_backoff_duration: float
max_rate_limit_duration: Optional[float]
destinations: Optional[List[Destination]]
callback: Optional[OutcomeCallback]
opt_out: bool
flush_timeout: Optional[float]
exit_timeout: Optional[float]
queue_full_timeout: float
verify: Any
transport: Any
spool_path: Optional[str]
spool_max_messages: int
spool_sync: bool
handle_sigterm: bool
backlog_upload_size: int
globals().update(settings.DEFAULTS)
__all__ += list(settings.DEFAULTS)

default_client: Optional[Client] = None
# Reentrant: a signal handler's track() may interrupt the making of the default client on
# its own thread (it then makes it, and the interrupted call keeps the handler's).
_client_lock = threading.RLock()
_client_lock_type = threading.Lock  # gevent/eventlet replace it when they patch (see _create_default_client)


def _reset_lock_after_fork() -> None:
    global _client_lock, _client_lock_type
    _client_lock, _client_lock_type = threading.RLock(), threading.Lock  # a parent thread may have held it at fork time


process.on_fork_child(_reset_lock_after_fork)


def _client() -> Client:
    client = default_client
    if client is None:
        client = _create_default_client()
    return client


def _create_default_client() -> Client:
    global default_client, _client_lock, _client_lock_type
    process.check()  # in a child forked behind Python's back, the parent's lock may be held
    # (threading.Lock is the sign of a patch: gevent replaces it, not the RLock function)
    if _client_lock_type is not threading.Lock and not _locked(_client_lock):
        # Imported before gevent/eventlet patched threading (gunicorn --preload): a lock of
        # the blocking kind, held while Client() switches greenlets, would stop the process.
        _client_lock, _client_lock_type = threading.RLock(), threading.Lock
    with _client_lock:
        if default_client is None:
            module = sys.modules[__name__]
            client = Client(**{name: getattr(module, name) for name in settings.DEFAULTS})
            if default_client is None:
                default_client = client
            else:  # a signal handler made one while Client() ran: it may hold the handler's events
                client.shutdown(timeout=0)
        return default_client


def _locked(lock: Any) -> bool:
    """Whether some thread holds ``lock`` (an RLock has no ``locked()`` before Python 3.14)."""
    if not lock.acquire(False):
        return True
    lock.release()
    return False


# RudderStack's SDK calls the host its data plane URL; accept its names too.
_HOST_ALIASES = ("dataPlaneUrl", "data_plane_url")


class _SettingsModule(types.ModuleType):
    """Settings as module attributes: a live one reaches the running default client, any
    other changed after the default client read it warns, and a name that is no setting
    (a typo) warns instead of being ignored."""

    def __getattr__(self, name: str) -> Any:
        if name in _HOST_ALIASES:
            return self.host
        raise AttributeError(f"module 'analytics_sdk' has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOST_ALIASES:
            name = "host"
        client = self.__dict__.get("default_client")
        if name in settings.LIVE_SETTINGS:
            if client is not None:
                setattr(client, name, value)
        elif name in settings.DEFAULTS:
            if client is not None and getattr(client, name, value) != value:
                warnings.warn(
                    f"analytics_sdk.{name} was changed after the default client was created; "
                    "it applies to the next default client (call analytics_sdk.shutdown() "
                    "or set analytics_sdk.default_client = None)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        elif not (name.startswith("_") or name in self.__dict__ or isinstance(value, types.ModuleType)):
            close = difflib.get_close_matches(name, list(settings.DEFAULTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            warnings.warn(f"analytics_sdk.{name} is not a setting and has no effect{hint}", RuntimeWarning, stacklevel=2)
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
    if cannot_wait("shutdown"):  # a signal handler over the SDK: the client stays, open (Client.shutdown)
        return False
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
