"""``Batch``, where the reference has it (``mparticle.models.batch``): one upload's user and events."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .app_event import AppEvent
from .application_state_transition_event import ApplicationStateTransitionEvent
from .base import Model, fields, one_of
from .breadcrumb_event import BreadcrumbEvent
from .commerce_event import CommerceEvent
from .crash_report_event import CrashReportEvent
from .event_base import EventBase
from .first_run_event import FirstRunEvent
from .network_performance_event import NetworkPerformanceEvent
from .opt_out_event import OptOutEvent
from .profile_event import ProfileEvent
from .push_message_event import PushMessageEvent
from .push_registration_event import PushRegistrationEvent
from .screen_view_event import ScreenViewEvent
from .session_end_event import SessionEndEvent
from .session_start_event import SessionStartEvent
from .user_attribute_change_event import UserAttributeChangeEvent

__all__ = ["Batch", "EVENT_CLASSES"]

# The event_type each event class travels as (Batch wraps events in EventBase).
EVENT_CLASSES: Dict[type, str] = {
    AppEvent: "custom_event",
    FirstRunEvent: "first_run",
    SessionStartEvent: "session_start",
    SessionEndEvent: "session_end",
    ApplicationStateTransitionEvent: "application_state_transition",
    ScreenViewEvent: "screen_view",
    PushRegistrationEvent: "push_registration",
    ProfileEvent: "profile",
    OptOutEvent: "opt_out",
    BreadcrumbEvent: "breadcrumb",
    CommerceEvent: "commerce_event",
    PushMessageEvent: "push_message",
    NetworkPerformanceEvent: "network_performance",
    CrashReportEvent: "crash_report",
    UserAttributeChangeEvent: "user_attribute_change",
}


def _wrap(event: Any) -> Any:
    if type(event) is EventBase:
        return event
    event_type = EVENT_CLASSES.get(type(event))
    if event_type is None:
        allowed = ", ".join(sorted(cls.__name__ for cls in EVENT_CLASSES))
        raise ValueError(f"Batch.events: {type(event).__name__} is not an event; use one of {allowed} (or EventBase)")
    return EventBase(data=event, event_type=event_type)


def _events(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{owner}.{name} must be a list of events, got {type(value).__name__}")


class Batch(Model):
    """One user's events and user-level data, for one environment."""

    _fields = fields(
        "events source_request_id environment ip schema_version device_info application_info user_attributes "
        "deleted_user_attributes user_identities api_key mpid mp_deviceid consent_state context "
        "integration_attributes"
    )
    _checks = {"environment": one_of("production", "development"), "events": _events}

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "events" and value is not None:
            _events("Batch", name, value)
            value = [_wrap(event) for event in value]
        super().__setattr__(name, value)

    events: Optional[List[Any]]
