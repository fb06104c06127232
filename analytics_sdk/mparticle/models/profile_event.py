"""``ProfileEvent``, where the reference has it (``mparticle.models.profile_event``)."""

from __future__ import annotations

from .base import fields, one_of
from .event_data import EventData

__all__ = ["ProfileEvent"]


class ProfileEvent(EventData):
    """A profile change (signup, login, logout ...)."""

    _fields = EventData._fields + fields("profile_name previous_profile_name profile_event_type")
    _checks = {
        "profile_event_type": one_of("unknown", "signup", "login", "logout", "update", "delete"),
    }
