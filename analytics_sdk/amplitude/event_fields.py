"""``amplitude.event``'s field table: every Amplitude event field, its wire name and
the types it takes, and the two nested objects among them (``Plan``,
``IngestionMetadata``). ``analytics_sdk.amplitude.event`` exports them all.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

from .constants import LOGGER_NAME

__all__ = ["Plan", "IngestionMetadata", "FIELDS", "OPTION_NAMES", "WIRE_TO_ATTRIBUTE", "type_ok", "string_fields"]

log = logging.getLogger(LOGGER_NAME)


class Plan:
    """Tracking plan information (``plan`` on the wire)."""

    def __init__(self, branch: Optional[str] = None, source: Optional[str] = None,
                 version: Optional[str] = None, version_id: Optional[str] = None) -> None:
        self.branch = branch
        self.source = source
        self.version = version
        self.version_id = version_id

    def get_plan_body(self) -> Dict[str, str]:
        return string_fields(self, (("branch", "branch"), ("source", "source"), ("version", "version"),
                                    ("version_id", "versionId")))


class IngestionMetadata:
    """Ingestion metadata (``ingestion_metadata`` on the wire)."""

    def __init__(self, source_name: Optional[str] = None, source_version: Optional[str] = None) -> None:
        self.source_name = source_name
        self.source_version = source_version

    def get_body(self) -> Dict[str, str]:
        return string_fields(self, (("source_name", "source_name"), ("source_version", "source_version")))


def string_fields(owner: Any, names: Tuple[Tuple[str, str], ...]) -> Dict[str, str]:
    """The set string attributes of ``owner`` under their wire names; others are logged and left out."""
    body = {}
    for name, wire in names:
        value = getattr(owner, name, None)
        if not value:
            continue
        if isinstance(value, str):
            body[wire] = value
        else:
            log.error("%s.%s expected %s but received %s.", type(owner).__name__, name, str, type(value))
    return body


# attribute -> (wire key, accepted types); the order is the wire order.
FIELDS: Dict[str, Tuple[str, Tuple[type, ...]]] = {
    "user_id": ("user_id", (str,)),
    "device_id": ("device_id", (str,)),
    "event_type": ("event_type", (str,)),
    "time": ("time", (int,)),
    "event_properties": ("event_properties", (dict,)),
    "user_properties": ("user_properties", (dict,)),
    "groups": ("groups", (dict,)),
    "group_properties": ("group_properties", (dict,)),
    **{name: (name, (str,)) for name in (
        "app_version", "platform", "os_name", "os_version", "device_brand", "device_manufacturer",
        "device_model", "carrier", "country", "region", "city", "dma", "language")},
    "price": ("price", (float,)),
    "quantity": ("quantity", (int,)),
    "revenue": ("revenue", (float,)),
    "currency": ("currency", (str,)),
    "product_id": ("productId", (str,)),
    "revenue_type": ("revenueType", (str,)),
    "location_lat": ("location_lat", (float,)),
    "location_lng": ("location_lng", (float,)),
    **{name: (name, (str,)) for name in ("ip", "idfa", "idfv", "adid", "android_id")},
    "event_id": ("event_id", (int,)),
    "session_id": ("session_id", (int,)),
    "insert_id": ("insert_id", (str,)),
    "library": ("library", (str,)),
    "plan": ("plan", (Plan,)),
    "ingestion_metadata": ("ingestion_metadata", (IngestionMetadata,)),
    "partner_id": ("partner_id", (str,)),
    "version_name": ("version_name", (str,)),
    "user_agent": ("user_agent", (str,)),
}
OPTION_NAMES = tuple(name for name in FIELDS if name not in ("event_type", "event_properties", "user_properties",
                                                               "groups", "group_properties"))
WIRE_TO_ATTRIBUTE = {wire: name for name, (wire, _) in FIELDS.items()}


def type_ok(name: str, value: Any) -> bool:
    """Whether ``value`` has the type field ``name`` takes; else an error log."""
    wanted = FIELDS[name][1]
    if isinstance(value, wanted):
        return True
    log.error("Event property %s expected %s but received %s.", name, wanted[0], type(value))
    return False
