"""``OptOutEvent``, where the reference has it (``mparticle.models.opt_out_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["OptOutEvent"]


class OptOutEvent(EventData):
    """A user opting out (or back in)."""

    _fields = EventData._fields + fields("is_opted_out")
