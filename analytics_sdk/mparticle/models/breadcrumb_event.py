"""``BreadcrumbEvent``, where the reference has it (``mparticle.models.breadcrumb_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["BreadcrumbEvent"]


class BreadcrumbEvent(EventData):
    """A breadcrumb for crash reports."""

    _fields = EventData._fields + fields("session_number label")
