"""``UserAttributeChangeEvent``, where the reference has it (``mparticle.models.user_attribute_change_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["UserAttributeChangeEvent"]


class UserAttributeChangeEvent(EventData):
    """A user attribute's change."""

    _fields = EventData._fields + fields("user_attribute_name new old deleted is_new_attribute")
