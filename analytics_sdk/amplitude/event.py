"""``amplitude.event``: Amplitude's event classes, as ``amplitude-analytics`` names them.

``BaseEvent`` and friends hold Amplitude event fields as attributes and as items
(``event["groups"] = ...``). As in the reference, a value of the wrong type, or a
property dict holding values Amplitude cannot take (nested lists, sets, tuples,
objects...), is refused with an error log and left out; ``Identify`` logs and
ignores an operation it cannot take (it never raises). ``get_event_body()`` is
what is sent: Enum values as their values, strings cut to 1,024 characters, an
object of more than 1,024 keys as ``{}``.

Construction is cheap on purpose (it runs in request handlers): plain attribute
stores and one pass over the property dicts given.
"""

from __future__ import annotations

import enum
import json
import logging
from typing import Any, Callable, Dict, Optional

from ..payload_builders import CLEAR_ALL, OPERATIONS, Identify as _Identify, Revenue as _Revenue
from .constants import LOGGER_NAME
from .event_fields import FIELDS, OPTION_NAMES, IngestionMetadata, Plan, type_ok
from .property_values import invalid_object, invalid_value, is_validate_object, is_validate_properties, properties_ok
from .utils import truncate

__all__ = [
    "Plan",
    "IngestionMetadata",
    "EventOptions",
    "BaseEvent",
    "IdentifyEvent",
    "GroupIdentifyEvent",
    "RevenueEvent",
    "Identify",
    "Revenue",
    "FIELDS",
    "is_validate_properties",
    "is_validate_object",
]

log = logging.getLogger(LOGGER_NAME)

IDENTIFY_EVENT = "$identify"
GROUP_IDENTIFY_EVENT = "$groupidentify"
REVENUE_EVENT = "revenue_amount"


# Fields whose value goes out as it is when its type is exactly the one wanted: name -> (wire name, type).
_PLAIN_FIELDS = {name: (wire, wanted[0]) for name, (wire, wanted) in FIELDS.items() if wanted[0] in (str, int, float)}


def _store_ids(values: Dict[str, Any], user_id: Optional[str], device_id: Optional[str], time: Optional[int]) -> None:
    """The fields nearly every event sets (only what is given is stored)."""
    if user_id is not None:
        values["user_id"] = user_id
    if device_id is not None:
        values["device_id"] = device_id
    if time is not None:
        values["time"] = time


class EventOptions:
    """The fields every event may carry; ``callback(event, code, message)`` is per event."""

    # Every field defaults to None here; instances store only what was set.
    user_id: Optional[str] = None
    device_id: Optional[str] = None
    time: Optional[int] = None
    insert_id: Optional[str] = None
    plan: Optional[Plan] = None
    ingestion_metadata: Optional[IngestionMetadata] = None
    event_type: Any = None
    event_properties: Optional[dict] = None
    user_properties: Optional[dict] = None
    groups: Optional[dict] = None
    group_properties: Optional[dict] = None
    event_callback: Optional[Callable[..., Any]] = None
    _retry = 0

    def __init__(self, user_id: Optional[str] = None, device_id: Optional[str] = None, time: Optional[int] = None,
                 app_version: Optional[str] = None, platform: Optional[str] = None, os_name: Optional[str] = None,
                 os_version: Optional[str] = None, device_brand: Optional[str] = None,
                 device_manufacturer: Optional[str] = None, device_model: Optional[str] = None,
                 carrier: Optional[str] = None, country: Optional[str] = None, region: Optional[str] = None,
                 city: Optional[str] = None, dma: Optional[str] = None, language: Optional[str] = None,
                 price: Optional[float] = None, quantity: Optional[int] = None, revenue: Optional[float] = None,
                 product_id: Optional[str] = None, revenue_type: Optional[str] = None,
                 currency: Optional[str] = None, location_lat: Optional[float] = None,
                 location_lng: Optional[float] = None, ip: Optional[str] = None, idfa: Optional[str] = None,
                 idfv: Optional[str] = None, adid: Optional[str] = None, android_id: Optional[str] = None,
                 event_id: Optional[int] = None, session_id: Optional[int] = None, insert_id: Optional[str] = None,
                 plan: Optional[Plan] = None, ingestion_metadata: Optional[IngestionMetadata] = None,
                 partner_id: Optional[str] = None, version_name: Optional[str] = None,
                 user_agent: Optional[str] = None, callback: Optional[Callable[..., Any]] = None) -> None:
        # Only what is given is stored (the class holds the None defaults), so turning
        # the event into its wire dict touches only the fields in use. Explicit
        # tests, not a loop: this runs in request handlers.
        values = self.__dict__
        _store_ids(values, user_id, device_id, time)
        if app_version is not None:
            values["app_version"] = app_version
        if platform is not None:
            values["platform"] = platform
        if os_name is not None:
            values["os_name"] = os_name
        if os_version is not None:
            values["os_version"] = os_version
        if device_brand is not None:
            values["device_brand"] = device_brand
        if device_manufacturer is not None:
            values["device_manufacturer"] = device_manufacturer
        if device_model is not None:
            values["device_model"] = device_model
        if carrier is not None:
            values["carrier"] = carrier
        if country is not None:
            values["country"] = country
        if region is not None:
            values["region"] = region
        if city is not None:
            values["city"] = city
        if dma is not None:
            values["dma"] = dma
        if language is not None:
            values["language"] = language
        if price is not None:
            values["price"] = price
        if quantity is not None:
            values["quantity"] = quantity
        if revenue is not None:
            values["revenue"] = revenue
        if product_id is not None:
            values["product_id"] = product_id
        if revenue_type is not None:
            values["revenue_type"] = revenue_type
        if currency is not None:
            values["currency"] = currency
        if location_lat is not None:
            values["location_lat"] = location_lat
        if location_lng is not None:
            values["location_lng"] = location_lng
        if ip is not None:
            values["ip"] = ip
        if idfa is not None:
            values["idfa"] = idfa
        if idfv is not None:
            values["idfv"] = idfv
        if adid is not None:
            values["adid"] = adid
        if android_id is not None:
            values["android_id"] = android_id
        if event_id is not None:
            values["event_id"] = event_id
        if session_id is not None:
            values["session_id"] = session_id
        if insert_id is not None:
            values["insert_id"] = insert_id
        if plan is not None:
            values["plan"] = plan
        if ingestion_metadata is not None:
            values["ingestion_metadata"] = ingestion_metadata
        if partner_id is not None:
            values["partner_id"] = partner_id
        if version_name is not None:
            values["version_name"] = version_name
        if user_agent is not None:
            values["user_agent"] = user_agent
        if callback is not None:  # (the class holds None, and _retry's 0)
            values["event_callback"] = callback

    def __getitem__(self, item: str) -> Any:
        return self.__dict__.get(item)

    def __setitem__(self, key: str, value: Any) -> None:
        if value is not None:
            if key not in FIELDS:
                log.error("Unexpected event property key: %s", key)
                return
            if not type_ok(key, value):
                return
            if isinstance(value, dict) and not properties_ok(key, value):
                return
        elif key not in FIELDS:
            return
        self.__dict__[key] = value

    def __contains__(self, item: str) -> bool:
        return self.__dict__.get(item) is not None

    def __str__(self) -> str:
        return json.dumps(self.get_event_body(), sort_keys=True, skipkeys=True, default=str)

    def get_event_body(self) -> Dict[str, Any]:
        """The event as it is sent: wire names, fields of the wrong type left out (with
        an error log), Enum property values as their values, None property values left
        out, strings cut to 1,024 characters and objects of more than 1,024 keys as
        ``{}`` (logged). A new dict: the event's own values are left as they are."""
        body = self._wire_fields()
        for name in ("user_properties", "event_properties", "group_properties"):
            values = body.get(name)
            if values and any(isinstance(v, enum.Enum) for v in values.values()):
                body[name] = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
        return truncate(body)  # type: ignore[no-any-return]

    def _wire_fields(self) -> Dict[str, Any]:
        """The wire dict before the limits: what ``track`` hands to the destination,
        which applies the limits (and converts values) when it encodes the event."""
        body: Dict[str, Any] = {}
        for name, value in self.__dict__.items():
            plain = _PLAIN_FIELDS.get(name)  # most fields: a str, int or float, sent as it is
            if plain is not None and type(value) is plain[1]:
                body[plain[0]] = value
                continue
            spec = FIELDS.get(name)
            if spec is None or value is None:
                continue
            wire, wanted = spec
            if not isinstance(value, wanted) and not type_ok(name, value):
                continue
            if name == "plan":
                value = value.get_plan_body()
            elif name == "ingestion_metadata":
                value = value.get_body()
            elif wanted[0] is dict and None in value.values():
                value = {k: v for k, v in value.items() if v is not None}  # as Amplitude's SDK does
            body[wire] = value
        return body

    def callback(self, status_code: int, message: Optional[str] = None) -> None:
        if callable(self.event_callback):
            self.event_callback(self, status_code, message)

    @property
    def retry(self) -> int:
        return self._retry

    @retry.setter
    def retry(self, n: int) -> None:
        self._retry = n


for _name in FIELDS:  # None defaults on the class for every field not declared above
    if not hasattr(EventOptions, _name):
        setattr(EventOptions, _name, None)


_NO_OPTIONS = (None,) * 34  # BaseEvent's options other than user_id, device_id, time and callback, all unset


class BaseEvent(EventOptions):
    """An event: ``event_type`` plus its properties and the options above."""

    def __init__(self, event_type: str, user_id: Optional[str] = None, device_id: Optional[str] = None,
                 time: Optional[int] = None, event_properties: Optional[dict] = None,
                 user_properties: Optional[dict] = None, groups: Optional[dict] = None,
                 group_properties: Optional[dict] = None, app_version: Optional[str] = None,
                 platform: Optional[str] = None, os_name: Optional[str] = None, os_version: Optional[str] = None,
                 device_brand: Optional[str] = None, device_manufacturer: Optional[str] = None,
                 device_model: Optional[str] = None, carrier: Optional[str] = None, country: Optional[str] = None,
                 region: Optional[str] = None, city: Optional[str] = None, dma: Optional[str] = None,
                 language: Optional[str] = None, price: Optional[float] = None, quantity: Optional[int] = None,
                 revenue: Optional[float] = None, product_id: Optional[str] = None,
                 revenue_type: Optional[str] = None, currency: Optional[str] = None,
                 location_lat: Optional[float] = None, location_lng: Optional[float] = None,
                 ip: Optional[str] = None, idfa: Optional[str] = None, idfv: Optional[str] = None,
                 adid: Optional[str] = None, android_id: Optional[str] = None, event_id: Optional[int] = None,
                 session_id: Optional[int] = None, insert_id: Optional[str] = None, plan: Optional[Plan] = None,
                 ingestion_metadata: Optional[IngestionMetadata] = None, partner_id: Optional[str] = None,
                 user_agent: Optional[str] = None, callback: Optional[Callable[..., Any]] = None,
                 version_name: Optional[str] = None) -> None:
        values = self.__dict__
        _store_ids(values, user_id, device_id, time)
        if callback is not None:
            values["event_callback"] = callback
        # The other options are rare: one C-level tuple comparison says whether any was given.
        if (app_version, platform, os_name, os_version, device_brand, device_manufacturer, device_model, carrier,
                country, region, city, dma, language, price, quantity, revenue, product_id, revenue_type, currency,
                location_lat, location_lng, ip, idfa, idfv, adid, android_id, event_id, session_id, insert_id, plan,
                ingestion_metadata, partner_id, version_name, user_agent) != _NO_OPTIONS:
            EventOptions.__init__(  # positional: the cheapest call (same order as its parameters)
                self, user_id, device_id, time, app_version, platform, os_name, os_version, device_brand,
                device_manufacturer, device_model, carrier, country, region, city, dma, language, price, quantity,
                revenue, product_id, revenue_type, currency, location_lat, location_lng, ip, idfa, idfv, adid,
                android_id, event_id, session_id, insert_id, plan, ingestion_metadata, partner_id, version_name,
                user_agent, callback)
        values["event_type"] = event_type
        # Checked as the reference checks them (a bad dict is left out, with an error log).
        if event_properties is not None:
            if type(event_properties) is dict and invalid_object(event_properties) is None:
                values["event_properties"] = event_properties
            else:
                self["event_properties"] = event_properties
        if user_properties is not None:
            if type(user_properties) is dict and invalid_object(user_properties) is None:
                values["user_properties"] = user_properties
            else:
                self["user_properties"] = user_properties
        if groups is not None:
            self["groups"] = groups
        if group_properties is not None:
            self["group_properties"] = group_properties

    def load_event_options(self, event_options: Optional[EventOptions]) -> None:
        """Copy every option set on ``event_options`` onto this event (overwriting)."""
        if not event_options:
            return
        theirs = event_options.__dict__
        for name in OPTION_NAMES:
            value = theirs.get(name)
            if value is not None:
                self[name] = value
        if event_options.event_callback is not None and self.event_callback is None:
            self.event_callback = event_options.event_callback


class Identify(_Identify):
    """User (or group) property operations, one per property key (``set``, ``add``...).

    As in ``amplitude-analytics``, an operation it cannot take is logged and ignored,
    never raised: a second operation on a key, any after ``clear_all()``, ``add``
    of a value that is not a number, a value Amplitude cannot take. (The
    ``analytics_sdk.Identify`` of the Segment-style API raises instead.)
    """

    def _operation(self, name: str, key: Any, value: Any) -> "Identify":
        if CLEAR_ALL in self._properties or key in self._keys:
            log.error("Key or clear all operation already set.")
            return self
        if not isinstance(key, str):
            log.error("Identify.%s ignored: the property key must be a string, got %s.", name, type(key))
            return self
        if name == "add":
            if not isinstance(value, (int, float)):
                log.error("Identify.add ignored for %r: the value must be a number, got %s.", key, type(value))
                return self
        elif name != "unset":
            problem = invalid_value(value)
            if problem is not None:
                log.error("Identify.%s ignored for %r (Amplitude cannot take it): %s.", name, key, problem)
                return self
        self._keys.add(key)
        self._properties.setdefault(OPERATIONS[name], {})[key] = value
        return self

    def add(self, key: str, value: Any) -> "Identify":
        return self._operation("add", key, value)


class IdentifyEvent(BaseEvent):
    """``$identify``: the arguments of BaseEvent after ``event_type``; ``identify_obj``
    (an ``Identify``) gives the ``user_properties``."""

    def __init__(self, *args: Any, identify_obj: Optional[_Identify] = None, **fields: Any) -> None:
        fields.pop("event_type", None)
        super().__init__(IDENTIFY_EVENT, *args, **fields)
        if identify_obj:
            self.user_properties = identify_obj.user_properties


class GroupIdentifyEvent(BaseEvent):
    """``$groupidentify``: the arguments of BaseEvent after ``event_type``; ``identify_obj``
    (an ``Identify``) gives the ``group_properties``."""

    def __init__(self, *args: Any, identify_obj: Optional[_Identify] = None, **fields: Any) -> None:
        fields.pop("event_type", None)
        super().__init__(GROUP_IDENTIFY_EVENT, *args, **fields)
        if identify_obj:
            self.group_properties = identify_obj.user_properties


class RevenueEvent(BaseEvent):
    """``revenue_amount``: the arguments of BaseEvent after ``event_type``, plus ``revenue_obj``."""

    def __init__(self, *args: Any, revenue_obj: Optional["Revenue"] = None, **fields: Any) -> None:
        fields.pop("event_type", None)
        super().__init__(REVENUE_EVENT, *args, **fields)
        if revenue_obj is not None:
            self.event_properties = {**(self.event_properties or {}), **revenue_obj.amplitude_properties()}


class Revenue(_Revenue):
    """Amplitude's Revenue, also usable from the Segment-style API (``analytics_sdk.Revenue``)."""

    def get_event_properties(self) -> Dict[str, Any]:
        return self.amplitude_properties()

    def to_revenue_event(self) -> RevenueEvent:
        return RevenueEvent(event_properties=self.amplitude_properties())
