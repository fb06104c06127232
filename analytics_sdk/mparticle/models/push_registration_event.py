"""``PushRegistrationEvent``, where the reference has it (``mparticle.models.push_registration_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["PushRegistrationEvent"]


class PushRegistrationEvent(EventData):
    """A push token (un)registration."""

    _fields = EventData._fields + fields("register registration_token")
