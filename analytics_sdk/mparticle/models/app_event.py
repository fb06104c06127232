"""``AppEvent``, where the reference has it (``mparticle.models.app_event``): a custom event."""

from __future__ import annotations

from typing import Any, Optional

from .base import fields, one_of
from .event_data import EventData

__all__ = ["AppEvent"]


class AppEvent(EventData):
    """A custom event: ``AppEvent(event_name, custom_event_type="other", ...)``."""

    _fields = fields("event_name custom_event_type") + EventData._fields + fields("media_info custom_flags")
    _checks = {
        "custom_event_type": one_of(
            "unknown", "navigation", "location", "search", "transaction", "user_content", "user_preference",
            "social", "other", "media", "attribution",
        ),
    }
    _defaults = {"custom_event_type": "other"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.event_name is None:
            raise ValueError("AppEvent: event_name is required")

    @classmethod
    def create_attribution_event(cls, publisher: Optional[str] = None, campaign: Optional[str] = None) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"campaign": campaign, "publisher": publisher})

    @classmethod
    def create_attribution_delete_event(cls) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"action": "delete"})
