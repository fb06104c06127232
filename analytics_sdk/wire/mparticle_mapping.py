"""Pure: a Segment-spec message as mParticle's batch fields and event
(docs/destinations.md, "mParticle", has the full table).

:func:`to_mparticle` returns the batch-level fields (user identities, user
attributes, device, app, consent, ip: what mParticle keeps per user and batch)
and the one event (or None for identify and group, which only set user-level
fields). Mistakes in the caller's options raise :class:`ValidationError` at the
call site; messages mParticle has no slot for raise :class:`MappingError`,
which the destination reports.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import ValidationError
from ..json_codec import encode, to_json_value
from .mparticle_context import (
    IDENTITY_TYPES,
    consent_state,
    context_fields,
    identities_of,
    is_map,
    is_uuid,
    options_of,
    timestamp_ms,
)

__all__ = [
    "MappingError",
    "to_mparticle",
    "IDENTITY_TYPES",
    "CUSTOM_EVENT_TYPES",
    "COMMERCE_ACTIONS",
    "LIFECYCLE_EVENTS",
    "RESERVED_TRAITS",
    "consent_state",
    "timestamp_ms",
]

CUSTOM_EVENT_TYPES = (
    "navigation", "location", "search", "transaction", "user_content", "user_preference", "social", "other",
    "media", "attribution", "unknown",
)
# Segment traits with a reserved mParticle user attribute ($-prefixed).
RESERVED_TRAITS = {
    "firstName": "$firstname", "first_name": "$firstname", "lastName": "$lastname", "last_name": "$lastname",
    "age": "$age", "gender": "$gender", "phone": "$mobile",
}
ADDRESS_TRAITS = {
    "street": "$address", "city": "$city", "state": "$state", "postalCode": "$zip", "postal_code": "$zip",
    "country": "$country",
}
# Segment e-commerce spec v2 event -> mParticle product/promotion action.
COMMERCE_ACTIONS = {
    "Product Viewed": "view_detail",
    "Product Clicked": "click",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Product Added to Wishlist": "add_to_wishlist",
    "Product Removed from Wishlist": "remove_from_wish_list",
    "Checkout Started": "checkout",
    "Checkout Step Viewed": "checkout",
    "Checkout Step Completed": "checkout_option",
    "Payment Info Entered": "checkout_option",
    "Order Completed": "purchase",
    "Order Refunded": "refund",
}
_SINGLE_PRODUCT = {"view_detail", "click", "add_to_cart", "remove_from_cart", "add_to_wishlist", "remove_from_wish_list"}
PROMOTION_ACTIONS = {"Promotion Viewed": "view", "Promotion Clicked": "click"}
IMPRESSION_EVENTS = ("Product List Viewed", "Product List Filtered")
# Segment's mobile lifecycle spec -> application_state_transition (type, is_first_run, is_upgrade).
LIFECYCLE_EVENTS: Dict[str, Tuple[str, Optional[bool], Optional[bool]]] = {
    "Application Installed": ("application_initialized", True, False),
    "Application Updated": ("application_initialized", False, True),
    "Application Opened": ("application_foreground", None, None),
    "Application Backgrounded": ("application_background", None, None),
}
SESSION_EVENTS = {"Session Started": "session_start", "Session Ended": "session_end"}

# Per-field limits (mParticle "default service limits").
MAX_ATTRIBUTES = 100
MAX_USER_ATTRIBUTES = 100
MAX_NAME_CHARS = 256
MAX_VALUE_CHARS = 4096
MAX_LIST_ENTRIES = 1000
MAX_LIST_ENTRY_CHARS = 512

_PRODUCT_FIELDS = {
    "name": "name", "brand": "brand", "category": "category", "variant": "variant", "coupon": "coupon_code",
}
_PRODUCT_ID_KEYS = ("product_id", "sku", "id")
_ORDER_KEYS = {"order_id", "checkout_id", "affiliation", "total", "revenue", "value", "tax", "shipping", "coupon",
               "currency", "products", "step", "shipping_method", "payment_method"}
_SCALARS = (str, int, float, bool, type(None))


class MappingError(Exception):
    """mParticle has no place for this message; ``reason`` is a drop reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _scalar(value: Any) -> Any:
    """A value mParticle takes as an attribute: scalars stay, the rest become JSON text."""
    if not isinstance(value, _SCALARS):
        value = to_json_value(value) if not isinstance(value, (dict, list, tuple)) else value
        if not isinstance(value, _SCALARS):
            value = encode(value).decode("ascii")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS]
    return value


def attributes(values: Optional[Mapping[str, Any]], skip: Any = (), what: str = "custom attributes") -> Dict[str, Any]:
    """Event custom attributes: flat, scalar, within mParticle's limits."""
    out: Dict[str, Any] = {}
    if not values:
        return out
    for key, value in values.items():
        if key in skip:
            continue
        out[_text(key, MAX_NAME_CHARS)] = _scalar(value)
    if len(out) > MAX_ATTRIBUTES:
        raise MappingError("invalid", f"{len(out)} {what}; mParticle takes at most {MAX_ATTRIBUTES} per event")
    return out


def _user_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_text(v, MAX_LIST_ENTRY_CHARS) if isinstance(v, str) else _scalar(v) for v in value[:MAX_LIST_ENTRIES]]
    return _scalar(value)


def user_attributes(traits: Mapping[str, Any], out: Dict[str, Any], prefix: str = "") -> None:
    """Segment traits as user attributes: reserved ones as $-attributes, email as an identity (skipped here)."""
    for key, value in traits.items():
        if key == "email" and not prefix:
            continue
        if key == "address" and is_map(value) and not prefix:
            for part, attribute in ADDRESS_TRAITS.items():
                if value.get(part) is not None:
                    out[attribute] = _scalar(value[part])
            continue
        name = RESERVED_TRAITS.get(key) if not prefix else None
        out[name or _text(prefix + key, MAX_NAME_CHARS)] = _user_value(value)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    converted = to_json_value(value) if value is not None else None
    return converted if isinstance(converted, (int, float)) and not isinstance(converted, bool) else None


def product(values: Any) -> Dict[str, Any]:
    """A Segment product (e-commerce spec) as an mParticle product."""
    if not is_map(values):
        return {}
    out: Dict[str, Any] = {}
    id_key = next((key for key in _PRODUCT_ID_KEYS if values.get(key) is not None), None)
    if id_key is not None:
        out["id"] = str(values[id_key])
    for key, target in _PRODUCT_FIELDS.items():
        if values.get(key) is not None:
            out[target] = str(values[key])
    for key, target in (("price", "price"), ("quantity", "quantity")):
        number = _number(values.get(key))
        if number is not None:
            out[target] = number
    position = _number(values.get("position"))
    if position is not None:
        out["position"] = int(position)
    rest = attributes(values, skip={id_key, *_PRODUCT_FIELDS, "price", "quantity", "position"},
                      what="product attributes")
    if rest:
        out["custom_attributes"] = rest
    return out


def _commerce(event: str, properties: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """commerce_event data for a Segment e-commerce spec event, or None for other events."""
    data: Dict[str, Any] = {}
    consumed: set = set()
    if event in COMMERCE_ACTIONS:
        action = COMMERCE_ACTIONS[event]
        product_action: Dict[str, Any] = {"action": action}
        if action in _SINGLE_PRODUCT:
            item = product(properties)
            product_action["products"] = [item] if item else []
            consumed = {*_PRODUCT_ID_KEYS, *_PRODUCT_FIELDS, "price", "quantity", "position"}
        else:
            products = properties.get("products")
            if isinstance(products, list):
                product_action["products"] = [product(p) for p in products]
            transaction = properties.get("order_id", properties.get("checkout_id"))
            if transaction is not None:
                product_action["transaction_id"] = str(transaction)
            if properties.get("affiliation") is not None:
                product_action["affiliation"] = str(properties["affiliation"])
            for keys, target in ((("total", "revenue", "value"), "total_amount"), (("tax",), "tax_amount"),
                                 (("shipping",), "shipping_amount")):
                for key in keys:
                    number = _number(properties.get(key))
                    if number is not None:
                        product_action[target] = number
                        break
            if properties.get("coupon") is not None:
                product_action["coupon_code"] = str(properties["coupon"])
            step = _number(properties.get("step"))
            if step is not None:
                product_action["checkout_step"] = int(step)
            option = properties.get("shipping_method", properties.get("payment_method"))
            if option is not None:
                product_action["checkout_options"] = str(option)
            consumed = _ORDER_KEYS
        data["product_action"] = product_action
    elif event in PROMOTION_ACTIONS:
        promotion = {}
        for key, target in (("promotion_id", "id"), ("name", "name"), ("creative", "creative"), ("position", "position")):
            if properties.get(key) is not None:
                promotion[target] = str(properties[key])
        data["promotion_action"] = {"action": PROMOTION_ACTIONS[event], "promotions": [promotion]}
        consumed = {"promotion_id", "name", "creative", "position"}
    elif event in IMPRESSION_EVENTS:
        products = properties.get("products")
        impression: Dict[str, Any] = {"products": [product(p) for p in products] if isinstance(products, list) else []}
        name = properties.get("list_id", properties.get("category"))
        if name is not None:
            impression["product_impression_list"] = str(name)
        data["product_impressions"] = [impression]
        consumed = {"products", "list_id", "category"}
    else:
        return None
    if properties.get("currency") is not None:
        data["currency_code"] = str(properties["currency"])
    rest = attributes(properties, skip=consumed | {"currency"})
    if rest:
        data["custom_attributes"] = rest
    return data


def _view_name(message: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    for value in (message.get("name"), message.get("category"), properties.get("title"), properties.get("path")):
        if value:
            return _text(value, MAX_NAME_CHARS)
    return "Loaded a Page" if message.get("type") == "page" else "Loaded a Screen"


def _event(message: Mapping[str, Any], context: Mapping[str, Any], options: Mapping[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """(event_type, data) for a track, page or screen message."""
    kind = message.get("type")
    properties = message.get("properties") or {}
    if kind in ("page", "screen"):
        extra = {"category": message["category"]} if message.get("category") else {}
        return "screen_view", {"screen_name": _view_name(message, properties),
                               "custom_attributes": attributes({**properties, **extra})}
    event = message.get("event") or ""
    commerce = _commerce(event, properties)
    if commerce is not None:
        return "commerce_event", commerce
    transition = LIFECYCLE_EVENTS.get(event)
    if transition is not None:
        data: Dict[str, Any] = {"application_transition_type": transition[0]}
        if transition[1] is not None:
            data["is_first_run"], data["is_upgrade"] = transition[1], transition[2]
        data["custom_attributes"] = attributes(properties)
        return "application_state_transition", data
    session = SESSION_EVENTS.get(event)
    if session is not None:
        data = {"custom_attributes": attributes(properties, skip=("session_id", "session_duration_ms"))}
        if session == "session_end":
            duration = _number(properties.get("session_duration_ms"))
            if duration is not None:
                data["session_duration_ms"] = int(duration)
        return session, data
    event_type = options.get("custom_event_type", "other")
    if event_type not in CUSTOM_EVENT_TYPES:
        raise ValidationError(
            f'integrations["mParticle"]["custom_event_type"] must be one of {", ".join(CUSTOM_EVENT_TYPES)}, '
            f"got {event_type!r}"
        )
    return "custom_event", {"event_name": _text(event, MAX_NAME_CHARS), "custom_event_type": event_type,
                            "custom_attributes": attributes(properties)}


def _session_id(message: Mapping[str, Any], context: Mapping[str, Any]) -> Optional[int]:
    value = (message.get("properties") or {}).get("session_id")
    if value is None:
        value = context.get("sessionId")
    number = _number(value)
    return int(number) if number is not None else None


def _common_data(data: Dict[str, Any], message: Mapping[str, Any], context: Mapping[str, Any], ms: Optional[int]) -> None:
    if message.get("messageId"):
        data["source_message_id"] = message["messageId"]
    if ms is not None:
        data["timestamp_unixtime_ms"] = ms
    session = _session_id(message, context)
    if session is not None:
        data["session_id"] = session
    location = context.get("location") or {}
    lat, lng = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is not None and lng is not None:
        data["location"] = {"latitude": lat, "longitude": lng}
    campaign = context.get("campaign")
    if is_map(campaign) and campaign:
        merged = {**{f"utm_{k}": v for k, v in campaign.items()}, **(data.get("custom_attributes") or {})}
        data["custom_attributes"] = attributes(merged)
    if not data.get("custom_attributes"):
        data.pop("custom_attributes", None)
    flags = (message.get("integrations") or {}).get("mParticle")
    if flags is not None and is_map(flags) and is_map(flags.get("custom_flags")):
        data["custom_flags"] = {str(k): str(v) for k, v in flags["custom_flags"].items()}


def to_mparticle(
    message: Mapping[str, Any], environment: str, anonymous_id: Optional[str] = "mp_deviceid"
) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """(batch fields, event or None) for a Segment-spec message."""
    kind = message.get("type")
    if kind == "alias":
        raise MappingError(
            "unsendable",
            "mParticle's Events API has no alias: merge profiles with IDSync, or send both ids in one "
            "call (userId plus a UUID anonymousId) so mParticle links them",
        )
    context = message.get("context") or {}
    options = options_of(message)
    traits: Any = (message.get("traits") if kind == "identify" else context.get("traits")) or {}
    if not is_map(traits):
        traits = {}
    ms = timestamp_ms(message.get("timestamp"))
    batch: Dict[str, Any] = {"environment": environment}
    _identify_user(batch, message, options, traits, anonymous_id)
    _user_attributes(batch, message, traits)
    context_fields(batch, context, ms)
    if kind in ("identify", "group"):
        # No event: the messageId names the batch (and lets mParticle deduplicate a resend).
        batch["source_request_id"] = message.get("messageId")
        return batch, None
    if kind not in ("track", "page", "screen"):
        raise MappingError("unsendable", f"unknown message type {kind!r}")
    event_type, data = _event(message, context, options)
    _common_data(data, message, context, ms)
    return batch, {"data": data, "event_type": event_type}


def _identify_user(batch: Dict[str, Any], message: Mapping[str, Any], options: Mapping[str, Any],
                   traits: Mapping[str, Any], anonymous_id: Optional[str]) -> None:
    """The batch's ``user_identities`` and ``mp_deviceid``; MappingError when there is neither."""
    identities = identities_of(message, options, traits)
    anonymous = message.get("anonymousId")
    if anonymous and anonymous_id:
        if anonymous_id == "mp_deviceid":
            if is_uuid(anonymous):
                batch["mp_deviceid"] = anonymous
        else:
            identities.setdefault(anonymous_id, anonymous)
    if identities:
        batch["user_identities"] = identities
    if not identities and "mp_deviceid" not in batch:
        raise MappingError(
            "unsendable",
            f"no mParticle identity: anonymousId {anonymous!r} is not a UUID (mParticle's device id), and there "
            "is no userId; pass anonymous_id='other' (or another identity name) to MParticle(...) to send it",
        )


def _user_attributes(batch: Dict[str, Any], message: Mapping[str, Any], traits: Mapping[str, Any]) -> None:
    """The batch's ``user_attributes``: the traits, and a group's id and traits (``group_``-prefixed)."""
    user: Dict[str, Any] = {}
    user_attributes(traits, user)
    if message.get("type") == "group":
        user["group_id"] = message.get("groupId")
        user_attributes(message.get("traits") or {}, user, prefix="group_")
    if len(user) > MAX_USER_ATTRIBUTES:
        raise MappingError("invalid", f"{len(user)} user attributes; mParticle takes at most {MAX_USER_ATTRIBUTES} per batch")
    if user:
        batch["user_attributes"] = user
