"""``ScreenViewEvent``, where the reference has it (``mparticle.models.screen_view_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["ScreenViewEvent"]


class ScreenViewEvent(EventData):
    """A screen (or page) view."""

    _fields = EventData._fields + fields("screen_name activity_type custom_flags")
