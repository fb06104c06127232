"""Pure builders and validators for the six Segment call types.

Each ``build_*`` function checks its arguments, raising :class:`ValidationError`
that names the bad argument, and returns the message as a dict in Segment's wire
format. This is the only module that knows the camelCase field names.

The dicts returned here still reference the caller's ``properties``/``traits``
objects: the client encodes them to bytes immediately, and those bytes are the
immutable snapshot that gets queued, so no deep copy is needed.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from dateutil import parser as date_parser

from .errors import ValidationError
from .stamps import LIBRARY, library_context, new_message_id, utc_now_iso

_utc = timezone.utc

__all__ = [
    "LIBRARY",
    "library_context",
    "Id",
    "Timestamp",
    "build_identify",
    "build_track",
    "build_page",
    "build_screen",
    "build_group",
    "build_alias",
    "new_message_id",
    "utc_now_iso",
    "BUILDERS",
    "BUILDER_ARGUMENTS",
    "call_from_wire",
]

Id = Union[str, int]
Timestamp = Union[datetime, date, str, int, float]

def _text(name: str, value: str) -> str:
    """``value`` if it is valid Unicode text. A lone surrogate (from a bad decode)
    is refused, not replaced: two different ids must never become the same one."""
    if value.isascii():  # O(1) in CPython: the common case costs nothing more
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{name} contains a lone surrogate ({value[exc.start]!r} at index {exc.start}); it is not valid Unicode text"
        ) from None
    return value


def _optional_id(name: str, value: Any) -> Optional[str]:
    """Return the id as a string, None when absent; numbers are stringified."""
    # The exact-str check comes first: ``value == ""`` on a foreign object (a numpy
    # array) may return an array whose truth value raises.
    if type(value) is str:
        if value.isascii():  # O(1): the common case costs no call
            return value or None
        return _text(name, value)
    if value is None:
        return None
    if isinstance(value, str):  # str subclasses
        return _optional_id(name, str.__str__(value))
    if isinstance(value, (int, uuid.UUID)) and not isinstance(value, bool):
        if isinstance(value, int) and value.bit_length() > 256:
            raise ValidationError(f"{name} is an integer too large to be an id ({value.bit_length()} bits)")
        return str(value)
    raise ValidationError(f"{name} must be a string or an integer, got {type(value).__name__}")


def _required_id(name: str, value: Any) -> str:
    result = _optional_id(name, value)
    if result is None:
        raise ValidationError(f"{name} is required (got {value!r})")
    return result


def _user_ids(user_id: Any, anonymous_id: Any) -> tuple:
    uid = _optional_id("user_id", user_id)
    aid = _optional_id("anonymous_id", anonymous_id)
    if uid is None and aid is None:
        raise ValidationError("user_id or anonymous_id is required (both are empty)")
    return uid, aid


def _mapping(name: str, value: Any) -> Dict[str, Any]:
    if value is None:
        return {}
    if type(value) is dict:
        return value
    if isinstance(value, Mapping):
        try:
            return dict(value)
        except Exception as exc:  # noqa: BLE001 - the caller's Mapping failed to give its items
            raise ValidationError(f"{name}: cannot read the {type(value).__name__} ({type(exc).__name__}: {exc})") from exc
    raise ValidationError(f"{name} must be a dict, got {type(value).__name__}")


def _optional_str(name: str, value: Any) -> Optional[str]:
    if value is None:
        return value
    if type(value) is str:
        return _text(name, value)
    if isinstance(value, str):
        return _text(name, str.__str__(value))
    raise ValidationError(f"{name} must be a string, got {type(value).__name__}")


def _event(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"event must be a non-empty string, got {type(value).__name__}")
    if not value:
        raise ValidationError("event must be a non-empty string, got ''")
    return _text("event", str.__str__(value))


def _timestamp(value: Any) -> str:
    """ISO-8601 with an offset; naive datetimes are taken to be UTC."""
    if value is None:
        return utc_now_iso()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=_utc)
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_utc).isoformat()
    if isinstance(value, str):
        try:
            return _timestamp(date_parser.isoparse(value))
        except (ValueError, OverflowError, TypeError, IndexError) as exc:
            raise ValidationError(f"timestamp is not an ISO-8601 date/time: {value!r}") from exc
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, _utc).isoformat()
        except (ValueError, OverflowError, OSError) as exc:
            raise ValidationError(f"timestamp is out of range: {value!r}") from exc
    raise ValidationError(
        f"timestamp must be a datetime, date, ISO-8601 string or Unix seconds, got {type(value).__name__}"
    )


def _context(value: Any) -> Dict[str, Any]:
    # A shallow copy with our library entry: the caller's dict is never mutated.
    if value is None:
        return {"library": LIBRARY.copy()}  # library_context(), inline
    context = _mapping("context", value)
    if not context:
        return library_context()
    return {**context, "library": LIBRARY.copy()}


def _message_id(value: Any) -> str:
    if value is None:
        return new_message_id()
    return _required_id("message_id", value)


def _common(
    kind: str,
    user_id: Optional[str],
    anonymous_id: Optional[str],
    context: Any,
    timestamp: Any,
    integrations: Any,
    message_id: Any,
) -> Dict[str, Any]:
    return {
        "type": kind,
        "messageId": _message_id(message_id),
        "timestamp": _timestamp(timestamp),
        "userId": user_id,
        "anonymousId": anonymous_id,
        "context": _context(context),
        "integrations": _mapping("integrations", integrations),
    }


def build_identify(
    user_id: Any = None,
    traits: Any = None,
    context: Any = None,
    timestamp: Any = None,
    anonymous_id: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    uid, aid = _user_ids(user_id, anonymous_id)
    msg = _common("identify", uid, aid, context, timestamp, integrations, message_id)
    msg["traits"] = _mapping("traits", traits)
    return msg


def build_track(
    user_id: Any = None,
    event: Any = None,
    properties: Any = None,
    context: Any = None,
    timestamp: Any = None,
    anonymous_id: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    uid, aid = _user_ids(user_id, anonymous_id)
    if type(event) is not str or not event or not event.isascii():
        event = _event(event)  # the checks, off the common path
    msg = _common("track", uid, aid, context, timestamp, integrations, message_id)
    msg["event"] = event
    msg["properties"] = _mapping("properties", properties)
    return msg


def _build_view(
    kind: str,
    user_id: Any,
    category: Any,
    name: Any,
    properties: Any,
    context: Any,
    timestamp: Any,
    anonymous_id: Any,
    integrations: Any,
    message_id: Any,
) -> Dict[str, Any]:
    uid, aid = _user_ids(user_id, anonymous_id)
    msg = _common(kind, uid, aid, context, timestamp, integrations, message_id)
    msg["category"] = _optional_str("category", category)
    msg["name"] = _optional_str("name", name)
    msg["properties"] = _mapping("properties", properties)
    return msg


def build_page(
    user_id: Any = None,
    category: Any = None,
    name: Any = None,
    properties: Any = None,
    context: Any = None,
    timestamp: Any = None,
    anonymous_id: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    return _build_view(
        "page", user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
    )


def build_screen(
    user_id: Any = None,
    category: Any = None,
    name: Any = None,
    properties: Any = None,
    context: Any = None,
    timestamp: Any = None,
    anonymous_id: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    return _build_view(
        "screen", user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
    )


def build_group(
    user_id: Any = None,
    group_id: Any = None,
    traits: Any = None,
    context: Any = None,
    timestamp: Any = None,
    anonymous_id: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    uid, aid = _user_ids(user_id, anonymous_id)
    gid = _required_id("group_id", group_id)
    msg = _common("group", uid, aid, context, timestamp, integrations, message_id)
    msg["groupId"] = gid
    msg["traits"] = _mapping("traits", traits)
    return msg


def build_alias(
    previous_id: Any = None,
    user_id: Any = None,
    context: Any = None,
    timestamp: Any = None,
    integrations: Any = None,
    message_id: Any = None,
) -> Dict[str, Any]:
    prev = _required_id("previous_id", previous_id)
    uid = _required_id("user_id", user_id)
    msg = _common("alias", uid, None, context, timestamp, integrations, message_id)
    del msg["anonymousId"]
    msg["previousId"] = prev
    return msg


# -- Segment's wire format back to call arguments (for NDJSON backfills) -----------------

_WIRE_TO_ARGUMENT = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "messageId": "message_id",
    "groupId": "group_id",
    "previousId": "previous_id",
    "event": "event",
    "properties": "properties",
    "traits": "traits",
    "context": "context",
    "timestamp": "timestamp",
    "integrations": "integrations",
    "category": "category",
    "name": "name",
}

BUILDERS: Dict[str, Callable[..., Dict[str, Any]]] = {
    "identify": build_identify,
    "track": build_track,
    "page": build_page,
    "screen": build_screen,
    "group": build_group,
    "alias": build_alias,
}


# Each call's arguments, in order (the CLI's flags come from here too).
BUILDER_ARGUMENTS = {kind: list(inspect.signature(builder).parameters) for kind, builder in BUILDERS.items()}


def call_from_wire(message: Any) -> tuple:
    """``(type, keyword arguments)`` for a message in Segment's JSON format.

    Fields the call does not take (``sentAt``, ``receivedAt``, ``writeKey``...) are
    ignored; ``context.library`` is replaced by ours when the message is built.
    """
    if not isinstance(message, Mapping):
        raise ValidationError(f"a message must be a JSON object, got {type(message).__name__}")
    kind = message.get("type")
    builder = BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise ValidationError(f"type must be one of {', '.join(BUILDERS)}, got {kind!r}")
    accepted = BUILDER_ARGUMENTS[str(kind)]
    kwargs = {}
    for field, argument in _WIRE_TO_ARGUMENT.items():
        if field in message and argument in accepted:
            kwargs[argument] = message[field]
    return kind, kwargs
