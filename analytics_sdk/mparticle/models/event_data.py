"""``EventData``, where the reference has it (``mparticle.models.event_data``): the fields every event has."""

from __future__ import annotations

from typing import Any, Dict, Optional

from .base import Model, attribute_bag, fields

__all__ = ["EventData"]


class EventData(Model):
    """The fields every event type has; each event class adds its own after them."""

    _fields = fields(
        "timestamp_unixtime_ms event_id source_message_id session_id session_uuid custom_attributes location "
        "device_current_state"
    )
    # Every event type checks custom_attributes (the reference: only some of them).
    _checks = {"custom_attributes": attribute_bag}

    custom_attributes: Optional[Dict[str, Any]]
