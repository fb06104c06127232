"""From a built message to the queues: filter by destination, encode once per wire
format, size-check, queue (or send now in sync mode), and report every refusal.

Pure of threads and I/O: the queues (``route.consumer``, plugin workers) do those.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from .delivery.callbacks import Callbacks, OutcomeCallback
from .delivery.outcomes import Outcomes
from .delivery.reentry import hands_to_the_application
from .wire.base import Unsendable
from .errors import ValidationError
from .logs import log
from .message_bytes import encode_message
from .routes import Route

__all__ = ["REFUSAL_DETAIL", "encode_for", "check_size", "queue_one", "queue_prebuilt", "fan_out", "run_event_plugins", "plugin_name"]

REFUSAL_DETAIL = {
    "queue_full": "the queue is full (max_queue_size); the message was not queued",
    "spool_full": "the spool is full (spool_max_messages); the message was not queued",
    "spool_unavailable": "the spool cannot be written (see the log) and its memory buffer is full; the message was not queued",
    "client_closed": "the client was shut down; the message was not queued",
}


def encode_for(route: Route, msg: Dict[str, Any]) -> Optional[bytes]:
    """``msg`` in the route's wire format, or None when refused (reported here)."""
    try:
        data = route.destination.encode(msg)
    except Unsendable as exc:
        route.outcomes.drop(exc.reason, [msg], exc.detail)
        return None
    except ValidationError:
        raise  # a bad argument (a circular reference...): the caller's to fix
    except Exception as exc:  # noqa: BLE001 - a destination's bug must not break the call
        log.exception("analytics_sdk: %s could not encode a message", route.name)
        route.outcomes.drop("unsendable", [msg], f"{type(exc).__name__} while encoding")
        return None
    return check_size(route, data)


def check_size(route: Route, data: bytes) -> Optional[bytes]:
    limit = route.destination.max_event_bytes
    if len(data) > limit:
        route.outcomes.drop("too_large", [data], f"{len(data)} bytes is over the {limit}-byte limit")
        return None
    return data


def queue_prebuilt(route: Route, event: Dict[str, Any], insert_id: str, wait: float) -> Optional[bool]:
    """Queue an event built in the route's own format (``Client.enqueue_prebuilt``); None when
    the destination declines it (the message path then reports why)."""
    try:
        data = route.destination.encode_prebuilt(event, insert_id)
    except ValidationError:
        raise  # a bad argument (a circular reference...): the caller's to fix, as on the message path
    except Exception:  # noqa: BLE001 - declined: the message path encodes again, and reports what fails
        return None
    if data is None:
        return None
    data = check_size(route, data)
    return data is not None and queue_one(route, data, False, wait)


def queue_one(route: Route, data: bytes, sync_mode: bool, wait: float) -> bool:
    """Queue ``data`` on the route (or send it now in sync mode); a refusal is reported."""
    if sync_mode:
        return route.consumer.send_now(data)
    refused = route.consumer.put(data, wait)
    if refused is not None:
        route.outcomes.drop(refused, [data], REFUSAL_DETAIL[refused])
        return False
    return True


def fan_out(
    routes: Sequence[Route],
    workers: Tuple[Any, ...],
    msg: Dict[str, Any],
    callback: Optional[OutcomeCallback],
    callbacks: Callbacks,
    *,
    send: bool,
    sync_mode: bool,
    wait: float,
) -> bool:
    """Every destination that takes the message gets it; True when all of them queued it."""
    taking = []
    for route in routes:
        if route.destination.accepts(msg):
            taking.append(route)
        else:
            route.outcomes.count_quiet("filtered")
    if callback is not None and send and taking:
        # Registered before encoding, so a refusal at encode time reaches it too.
        callbacks.register(msg["messageId"], callback, len(taking))
    encoded = []
    ok = True
    by_encoder: Dict[Any, Optional[bytes]] = {}  # Segment-format destinations share one encoding
    for route in taking:
        encoder = route.destination.encode
        shared = by_encoder.get(encoder)
        if shared is not None:
            data = check_size(route, shared)
        else:
            data = by_encoder[encoder] = encode_for(route, msg)
        if data is None:
            ok = False
        else:
            encoded.append((route, data))
    # Destination plugins get the canonical JSON: a Segment-format route already made it.
    snapshot = (by_encoder.get(encode_message) or encode_message(msg)) if workers else b""
    if not send:
        return ok
    for route, data in encoded:
        ok = queue_one(route, data, sync_mode, wait) and ok
    for worker in workers:
        refused = worker.put(snapshot)
        if refused is not None:
            worker.outcomes.drop(refused, [snapshot], REFUSAL_DETAIL[refused])
    return ok


@hands_to_the_application
def run_event_plugins(plugins: Sequence[Any], msg: Dict[str, Any], outcomes: Outcomes) -> Optional[Dict[str, Any]]:
    """Before and enrichment plugins, in order, on a copy the caller's objects never see."""
    event: Optional[Dict[str, Any]] = {k: dict(v) if isinstance(v, dict) else v for k, v in msg.items()}
    for plugin in plugins:
        try:
            event = plugin.execute(event)
        except Exception as exc:  # noqa: BLE001 - the plugin's failure must not break the call
            log.exception("analytics_sdk: plugin %s raised", getattr(plugin, "name", plugin))
            outcomes.drop("plugin_error", [msg], f"{type(exc).__name__} in plugin {plugin_name(plugin)}")
            return None
        if event is None:
            outcomes.count_quiet("filtered")
            return None
        if not isinstance(event, dict):
            outcomes.drop("plugin_error", [msg], f"plugin {plugin_name(plugin)} returned {type(event).__name__}, not a dict")
            return None
    return event


def plugin_name(plugin: Any) -> str:
    return str(getattr(plugin, "name", None) or type(plugin).__name__)
