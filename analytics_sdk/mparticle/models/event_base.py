"""``EventBase``, where the reference has it (``mparticle.models.event_base``): an event and its type."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["EventBase", "EVENT_TYPES"]

EVENT_TYPES = (
    "unknown", "session_start", "session_end", "screen_view", "custom_event", "crash_report", "opt_out",
    "first_run", "pre_attribution", "push_registration", "application_state_transition", "push_message",
    "network_performance", "breadcrumb", "profile", "push_reaction", "commerce_event", "user_attribute_change",
    "user_identity_change", "uninstall",
)


class EventBase(Model):
    """An event as a batch carries it: ``data`` (the event) and its ``event_type``."""

    _fields = fields("data event_type")
    _checks = {"event_type": one_of(*EVENT_TYPES)}
