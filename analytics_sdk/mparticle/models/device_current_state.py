"""``DeviceCurrentState``, where the reference has it (``mparticle.models.device_current_state``)."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["DeviceCurrentState"]

_ORIENTATION = one_of(
    "unknown", "portrait", "portrait_upside_down", "landscape", "LandscapeLeft", "LandscapeRight", "FaceUp",
    "FaceDown", "Square",
)


class DeviceCurrentState(Model):
    """The device's state when an event happened (memory, battery, orientation ...)."""

    _fields = fields(
        "time_since_start_ms battery_level data_connection_type data_connection_type_detail gps_state "
        "total_system_memory_usage_bytes disk_space_free_bytes cpu system_memory_available_bytes system_memory_low "
        "system_memory_threshold_bytes application_memory_available_bytes application_memory_max_bytes "
        "application_memory_total_bytes device_orientation status_bar_orientation"
    )
    _checks = {"device_orientation": _ORIENTATION, "status_bar_orientation": _ORIENTATION}
