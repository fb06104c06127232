"""``SessionEndEvent``, where the reference has it (``mparticle.models.session_end_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["SessionEndEvent"]


class SessionEndEvent(EventData):
    """A session's end."""

    _fields = EventData._fields + fields("session_duration_ms")
