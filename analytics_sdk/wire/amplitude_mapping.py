"""Pure: a canonical (Segment-spec) message as an Amplitude HTTP V2 event dict.

The table (also in docs/destinations.md, "Amplitude"):

=========================  =====================================================
Segment                    Amplitude event
=========================  =====================================================
track                      ``event_type`` = event, ``event_properties`` = properties
identify                   ``$identify``, ``user_properties`` = ``{"$set": traits}``
group                      with traits: ``$groupidentify`` (``groups`` {type: groupId},
                           ``group_properties`` ``{"$set": traits}``, and
                           ``user_properties`` ``{"$set": {type: groupId}}``);
                           without: ``$identify`` with the same ``groups`` and
                           ``user_properties`` (Amplitude's set_group). ``type`` is
                           ``integrations.Amplitude.group_type``, default "[Segment] Group"
page / screen              "Viewed {category} {name} Page" / "Viewed {name} Screen"
                           (parts that are absent are left out; neither: "Loaded a
                           Page" / "Loaded a Screen"); name and category join the
                           event_properties
alias                      refused, reported as ``unsendable`` (Amplitude's event API
                           has no alias; its User Mapping API is a separate product)
userId / anonymousId       ``user_id`` / ``device_id``
messageId                  ``insert_id`` (Amplitude deduplicates on it for 7 days)
timestamp                  ``time`` (integer milliseconds)
properties: revenue,       ``revenue``, ``price`` (float), ``quantity`` (int, 1 when
price, quantity,           only price is given), ``productId``, ``revenueType``,
productId, revenueType,    ``currency`` (productId/revenueType only with a price or revenue)
context.ip                 ``ip``
context.os.name/version    ``os_name`` / ``os_version``
context.device             model, manufacturer, brand -> ``device_*``; type -> ``platform``;
                           advertisingId -> ``idfa`` (iOS) or ``adid`` (otherwise)
context.location           country, region, city, latitude/longitude -> ``location_lat/lng``
context.locale             ``language``
context.app.version/build  ``app_version`` / ``version_name``
context.network.carrier    ``carrier``
context.userAgent          ``user_agent``
integrations.Amplitude     every Amplitude event field given there (session_id,
                           device_id, user_properties, groups, ...) replaces the mapped one
=========================  =====================================================

Everything here runs on the caller's thread: a few dict lookups, no copies of
the properties (the encoder writes them out as they are).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional

from dateutil import parser as date_parser

from .base import Unsendable

__all__ = ["to_amplitude", "EVENT_FIELDS", "DEFAULT_GROUP_TYPE", "millis", "refusal"]

DEFAULT_GROUP_TYPE = "[Segment] Group"  # Segment's own fallback group type

# Amplitude event fields that integrations["Amplitude"] may set (insert_id is the
# messageId: pass message_id= to choose it, so callbacks and retries keep one id).
EVENT_FIELDS = frozenset(
    (
        "user_id device_id event_type time event_properties user_properties groups group_properties "
        "app_version platform os_name os_version device_brand device_manufacturer device_model carrier "
        "country region city dma language price quantity revenue productId revenueType currency "
        "location_lat location_lng ip idfa idfv adid android_id android_app_set_id event_id session_id "
        "plan ingestion_metadata partner_id version_name user_agent"
    ).split()
)

_utc = timezone.utc
_fromiso = datetime.fromisoformat


def millis(timestamp: Any) -> Optional[int]:
    """ISO-8601 text (what the builders make) as integer milliseconds since the epoch."""
    if not isinstance(timestamp, str):
        return None
    try:
        when = _fromiso(timestamp)  # C-fast for the builders' own isoformat() output
    except ValueError:
        try:
            when = date_parser.isoparse(timestamp)
        except (ValueError, OverflowError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_utc)
    return int(when.timestamp() * 1000)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _no_nones(values: Any) -> Any:
    # Amplitude's SDK leaves out properties whose value is None; so do we (top level only).
    if type(values) is dict and None in values.values():
        return {k: v for k, v in values.items() if v is not None}
    return values


def _revenue(event: Dict[str, Any], properties: Mapping[str, Any]) -> None:
    """Segment's revenue properties as Amplitude's revenue fields."""
    revenue = properties.get("revenue")
    price = properties.get("price")
    has_revenue = _number(revenue)
    has_price = _number(price)
    if not (has_revenue or has_price):
        return
    if has_revenue and revenue is not None:
        event["revenue"] = float(revenue)
    if has_price and price is not None:
        event["price"] = float(price)
        quantity = properties.get("quantity")
        event["quantity"] = int(quantity) if quantity is not None and _number(quantity) else 1
    for source, target in (("productId", "productId"), ("product_id", "productId"),
                           ("revenueType", "revenueType"), ("revenue_type", "revenueType")):
        value = properties.get(source)
        if isinstance(value, str) and target not in event:
            event[target] = value
    currency = properties.get("currency")
    if isinstance(currency, str):
        event["currency"] = currency


def _context(event: Dict[str, Any], context: Mapping[str, Any]) -> None:
    """context.* as Amplitude's device, location and app fields (library is ours, left out)."""
    if len(context) <= 1:  # only context.library: the usual server-side case
        return
    get = context.get
    ip = get("ip")
    if ip:
        event["ip"] = ip
    os_info = get("os")
    if isinstance(os_info, Mapping):
        if os_info.get("name"):
            event["os_name"] = os_info["name"]
        if os_info.get("version"):
            event["os_version"] = os_info["version"]
    device = get("device")
    if isinstance(device, Mapping):
        for source, target in (("model", "device_model"), ("manufacturer", "device_manufacturer"),
                               ("brand", "device_brand"), ("type", "platform")):
            if device.get(source):
                event[target] = device[source]
        advertising = device.get("advertisingId")
        if advertising:
            os_name = str(event.get("os_name", "")).lower()
            event["idfa" if os_name in ("ios", "ipados", "tvos") else "adid"] = advertising
    location = get("location")
    if isinstance(location, Mapping):
        for name in ("country", "region", "city"):
            if location.get(name):
                event[name] = location[name]
        if _number(location.get("latitude")):
            event["location_lat"] = float(location["latitude"])
        if _number(location.get("longitude")):
            event["location_lng"] = float(location["longitude"])
    if get("locale"):
        event["language"] = get("locale")
    app = get("app")
    if isinstance(app, Mapping):
        if app.get("version"):
            event["app_version"] = app["version"]
        if app.get("build"):
            event["version_name"] = str(app["build"])
    network = get("network")
    if isinstance(network, Mapping) and network.get("carrier"):
        event["carrier"] = network["carrier"]
    if get("userAgent"):
        event["user_agent"] = get("userAgent")


def _view_name(kind: str, category: Any, name: Any) -> str:
    noun = "Page" if kind == "page" else "Screen"
    parts = [part for part in (category, name) if isinstance(part, str) and part]
    if not parts:
        return f"Loaded a {noun}"
    return f"Viewed {' '.join(parts)} {noun}"


def to_amplitude(message: Mapping[str, Any], library: str) -> Dict[str, Any]:
    """The Amplitude event for ``message``; raises :class:`Unsendable` for what Amplitude cannot take."""
    kind = message.get("type")
    integrations = message.get("integrations")
    options = integrations.get("Amplitude") if integrations else None
    if type(options) is not dict and not isinstance(options, Mapping):  # exact type first: ABC checks are slow
        options = None
    if options is not None and "event_type" in options:
        # A complete Amplitude event (what analytics_sdk.amplitude sends): take it as it is.
        event: Dict[str, Any] = {key: value for key, value in options.items() if key in EVENT_FIELDS}
        return _finish(event, message, library)
    event = {}
    user_id = message.get("userId")
    if user_id:
        event["user_id"] = user_id
    device_id = message.get("anonymousId")
    if device_id:
        event["device_id"] = device_id
    if kind == "track":
        _track(event, message)
    elif kind == "identify":
        _identify(event, message)
    elif kind == "group":
        _group(event, message, options)
    elif kind in ("page", "screen"):
        _view(event, str(kind), message)
    else:
        raise _unsendable(kind)
    context = message.get("context")
    if context:
        _context(event, context)
    if options:
        for key, value in options.items():
            if key in EVENT_FIELDS:
                event[key] = value
    return _finish(event, message, library)


def _track(event: Dict[str, Any], message: Mapping[str, Any]) -> None:
    event["event_type"] = message.get("event")
    properties = message.get("properties")
    if properties:
        event["event_properties"] = _no_nones(properties)
        if "revenue" in properties or "price" in properties:
            _revenue(event, properties)


def _identify(event: Dict[str, Any], message: Mapping[str, Any]) -> None:
    event["event_type"] = "$identify"
    traits = message.get("traits")
    if traits:
        event["user_properties"] = {"$set": _no_nones(traits)}


def _group(event: Dict[str, Any], message: Mapping[str, Any], options: Optional[Mapping[str, Any]]) -> None:
    """With traits (or group_properties given): ``$groupidentify``; else Amplitude's set_group."""
    group_type = (options or {}).get("group_type") or DEFAULT_GROUP_TYPE
    group_id = message.get("groupId")
    traits = message.get("traits")
    event["groups"] = {group_type: group_id}
    event["user_properties"] = {"$set": {group_type: group_id}}
    if traits or (options and "group_properties" in options):
        event["event_type"] = "$groupidentify"
        if traits:
            event["group_properties"] = {"$set": _no_nones(traits)}
    else:
        event["event_type"] = "$identify"


def _view(event: Dict[str, Any], kind: str, message: Mapping[str, Any]) -> None:
    """page / screen: the event name from category and name, which join the properties."""
    category, name = message.get("category"), message.get("name")
    event["event_type"] = _view_name(kind, category, name)
    properties = dict(message.get("properties") or {})
    if name and "name" not in properties:
        properties["name"] = name
    if category and "category" not in properties:
        properties["category"] = category
    if properties:
        event["event_properties"] = _no_nones(properties)


def _unsendable(kind: Any) -> Unsendable:
    if kind == "alias":
        return Unsendable(
            "unsendable",
            "Amplitude's event API has no alias; map users with Amplitude's User Mapping API "
            "(or leave alias out of this destination with integrations={'Amplitude': False})",
        )
    return Unsendable("unsendable", f"Amplitude cannot take a message of type {kind!r}")


def _finish(event: Dict[str, Any], message: Mapping[str, Any], library: str) -> Dict[str, Any]:
    """Time, insert_id and library, and the checks Amplitude would otherwise answer with a 400."""
    if "time" not in event:
        ms = millis(message.get("timestamp"))
        if ms is not None:
            event["time"] = ms
    event["insert_id"] = message.get("messageId")
    event["library"] = library
    problem = refusal(event)
    if problem is not None:
        raise Unsendable("invalid", problem)
    return event


def refusal(event: Mapping[str, Any]) -> Optional[str]:
    """Why Amplitude would answer ``event`` with a 400 (checked before sending), or None."""
    event_type = event.get("event_type")
    if not event_type or not isinstance(event_type, str):
        return "Amplitude needs an event_type (a non-empty string)"
    if not event.get("user_id") and not event.get("device_id") and event_type != "$groupidentify":
        return "Amplitude needs a user_id or a device_id (userId or anonymousId)"
    return None
