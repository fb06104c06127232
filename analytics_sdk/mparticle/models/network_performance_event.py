"""``NetworkPerformanceEvent``, where the reference has it (``mparticle.models.network_performance_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["NetworkPerformanceEvent"]


class NetworkPerformanceEvent(EventData):
    """One network request's performance."""

    _fields = EventData._fields + fields("http_verb url time_elapsed bytes_in bytes_out response_code data")
