"""``AppEvent``, where the reference has it (``mparticle.models.app_event``): a custom event."""

from __future__ import annotations

from typing import Any, Optional

from .base import attribute_bag, fields, one_of
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

    @property
    def ltv_amount(self) -> Any:
        """A lifetime-value increase: sent, as the reference sends it, as the custom attributes
        ``$Amount`` and ``MethodName: "LogLTVIncrease"`` (None removes them)."""
        return self.__dict__.get("_ltv_amount")

    @ltv_amount.setter
    def ltv_amount(self, value: Any) -> None:
        attributes = self.custom_attributes
        if value is not None:
            attribute_bag("AppEvent", "ltv_amount", {"$Amount": value})
            if attributes is None:
                attributes = {}
                self.custom_attributes = attributes
            # In place, as the reference does: the dict the caller passed sees the change too.
            attributes["$Amount"] = value
            attributes["MethodName"] = "LogLTVIncrease"
        elif attributes is not None:
            attributes.pop("$Amount", None)
            attributes.pop("MethodName", None)
        object.__setattr__(self, "_ltv_amount", value)

    @classmethod
    def create_attribution_event(cls, publisher: Optional[str] = None, campaign: Optional[str] = None) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"campaign": campaign, "publisher": publisher})

    @classmethod
    def create_attribution_delete_event(cls) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"action": "delete"})
