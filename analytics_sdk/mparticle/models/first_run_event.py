"""``FirstRunEvent``, where the reference has it (``mparticle.models.first_run_event``)."""

from __future__ import annotations

from .event_data import EventData

__all__ = ["FirstRunEvent"]


class FirstRunEvent(EventData):
    """The first run of an app."""
