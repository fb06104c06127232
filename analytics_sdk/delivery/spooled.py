"""``SpooledConsumer``: a consumer whose backlog is the spool (the name routes.py and
earlier releases use). The spool is a backlog (``spool_backlog.py``), not another engine."""

from __future__ import annotations

from typing import Any

from ..wire.base import Destination
from .consumer import Consumer
from .outcomes import Outcomes
from .spool import Spool
from .spool_backlog import SpoolBacklog

__all__ = ["SpooledConsumer"]


def SpooledConsumer(  # noqa: N802 - the class name it had
    destination: Destination, transport: Any, outcomes: Outcomes, spool: Spool, *, spool_sync: bool = False, **options: Any
) -> Consumer:
    """A :class:`Consumer` whose events wait in ``spool`` (see spool_backlog.py)."""
    return Consumer(destination, transport, outcomes, backlog=SpoolBacklog(spool, spool_sync), **options)
