"""``ApplicationStateTransitionEvent``, where the reference has it
(``mparticle.models.application_state_transition_event``)."""

from __future__ import annotations

from .base import fields, one_of
from .event_data import EventData

__all__ = ["ApplicationStateTransitionEvent"]


class ApplicationStateTransitionEvent(EventData):
    """Install, upgrade, foreground and background of an app (``create_*_event``)."""

    _fields = EventData._fields + fields(
        "successfully_closed is_first_run is_upgrade push_notification_payload application_transition_type"
    )
    _checks = {
        "application_transition_type": one_of(
            "unknown", "application_initialized", "application_exit", "application_background",
            "application_foreground",
        ),
    }

    @classmethod
    def create_install_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_initialized", is_first_run=True, is_upgrade=False)

    @classmethod
    def create_upgrade_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_initialized", is_first_run=False, is_upgrade=True)

    @classmethod
    def create_foreground_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_foreground")

    @classmethod
    def create_background_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_background")
