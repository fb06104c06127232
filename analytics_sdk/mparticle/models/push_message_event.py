"""``PushMessageEvent``, where the reference has it (``mparticle.models.push_message_event``)."""

from __future__ import annotations

from .base import fields, one_of
from .event_data import EventData

__all__ = ["PushMessageEvent"]


class PushMessageEvent(EventData):
    """A push message sent, received or acted on."""

    _fields = EventData._fields + fields(
        "push_message_token push_message_type message network push_notification_payload "
        "application_state action_identifier"
    )
    _checks = {
        "push_message_type": one_of("unknown", "sent", "received", "action"),
        "application_state": one_of("unknown", "not_running", "background", "foreground"),
    }
