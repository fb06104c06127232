"""``SessionStartEvent``, where the reference has it (``mparticle.models.session_start_event``)."""

from __future__ import annotations

from .event_data import EventData

__all__ = ["SessionStartEvent"]


class SessionStartEvent(EventData):
    """A session's start."""
