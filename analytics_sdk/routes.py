"""Wiring one client to its destinations: a route per destination, each with its
own transport, queue, uploader threads, retry state, counters and (optionally) spool.

Separate from ``client.py`` so the client reads as "validate, build, encode,
enqueue" and this reads as "what runs behind it".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .delivery.callbacks import Callbacks
from .delivery.consumer import Consumer
from .delivery.notices import warn_audibly
from .delivery.outcomes import ErrorCallback, Outcomes
from .delivery.retry import RetryPolicy
from .delivery.spool import Spool, SpoolError
from .delivery.spooled import SpooledConsumer
from .delivery.transport import make_transport
from .wire.base import Destination
from .errors import ValidationError

__all__ = ["Route", "build_routes", "routes_for", "unique_names"]

log = logging.getLogger("analytics_sdk")


@dataclass
class Route:
    """One destination of a client and the delivery machinery that serves it."""

    name: str
    destination: Destination
    consumer: Consumer
    outcomes: Outcomes
    spool_error: Optional[str] = None


def unique_names(destinations: Sequence[Destination]) -> List[str]:
    """Stats keys: the destinations' names, with ``#2``, ``#3``... for repeats."""
    seen: Dict[str, int] = {}
    names = []
    for destination in destinations:
        base = destination.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def build_routes(
    destinations: Sequence[Destination],
    *,
    on_error: Optional[ErrorCallback],
    callbacks: Callbacks,
    timeout: float,
    proxies: Optional[Dict[str, str]],
    verify: Any,
    consumer_options: Dict[str, Any],
    spool_path: Optional[str],
    spool_max_messages: int,
    spool_sync: bool,
) -> List[Route]:
    for destination in destinations:
        if not isinstance(destination, Destination):
            raise ValidationError(
                f"destinations must be Destination objects (e.g. analytics_sdk.Segment(...)), "
                f"got {type(destination).__name__}"
            )
    routes = []
    names = unique_names(destinations)
    for name, destination in zip(names, destinations):
        outcomes = Outcomes(on_error, destination, callbacks)
        transport = destination.transport or make_transport(
            destination.url, destination.headers(), gzip=destination.gzip, timeout=timeout, proxies=proxies, verify=verify
        )
        spool, spool_error = None, None
        if spool_path:
            path = spool_path if len(destinations) == 1 else f"{spool_path}.{name}"
            spool, spool_error = _open_spool(path, spool_max_messages)
        consumer: Consumer
        if spool is not None:
            consumer = SpooledConsumer(destination, transport, outcomes, spool, spool_sync=spool_sync, **consumer_options)
        else:
            consumer = Consumer(destination, transport, outcomes, **consumer_options)
        routes.append(Route(name, destination, consumer, outcomes, spool_error))
    return routes


def _open_spool(path: str, max_messages: int) -> "tuple[Optional[Spool], Optional[str]]":
    try:
        return Spool(path, max_messages), None
    except SpoolError as exc:
        # A bad spool file must never take the application down: keep working in memory,
        # and say so where the user sees it (a NullHandler would swallow a plain log line).
        warn_audibly(log, "analytics_sdk: %s; the spool is disabled and events are kept in memory only", exc)
        return None, str(exc)


def retry_policy(max_retries: int, max_total_backoff_duration: float) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, max_elapsed=max_total_backoff_duration)


def routes_for(config: Dict[str, Any], callbacks: Callbacks) -> Tuple[Route, ...]:
    """A client's routes, from its validated settings (``settings.validate``)."""
    return tuple(
        build_routes(
            config["destinations"],
            on_error=config["on_error"],
            callbacks=callbacks,
            timeout=config["timeout"],
            proxies=config["proxies"],
            verify=config["verify"],
            consumer_options=dict(
                max_queue_size=config["max_queue_size"],
                upload_size=config["upload_size"],
                backlog_upload_size=config["backlog_upload_size"],
                upload_interval=config["upload_interval"],
                threads=config["thread"],
                retry_policy=retry_policy(config["max_retries"], config["max_total_backoff_duration"]),
            ),
            spool_path=config["spool_path"] if config["send"] and not config["sync_mode"] else None,
            spool_max_messages=config["spool_max_messages"],
            spool_sync=config["spool_sync"],
        )
    )
