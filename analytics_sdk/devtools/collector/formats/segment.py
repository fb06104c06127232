"""The Segment Tracking API (also what RudderStack, Hightouch Events, Jitsu and
Customer.io Data Pipelines accept).

Like Segment's API, a batch is refused as a whole only when its body is not
JSON, has no ``batch`` array, or breaks a size limit (500 KB per request,
32 KB per message: 413 here, which the SDK answers by splitting). Every other
problem drops only the message concerned, with a reason, and the request still
gets 200. Warnings flag what Segment accepts but would change or ignore.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ..secrets import mask_secret
from . import Format, Headers, Outcome, RequestError, Summary, Verdict

__all__ = ["SegmentFormat", "validate_message", "MESSAGE_TYPES", "MAX_MESSAGE_BYTES", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
ID_FIELDS = ("userId", "anonymousId", "previousId", "groupId")
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
# Warn before the limit bites: a message this close to 32 KB breaks after one more property.
NEAR_LIMIT_BYTES = MAX_MESSAGE_BYTES * 3 // 4

_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?P<time>[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?P<zone>Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)

# Segment's reserved traits and properties, by the JSON type its destinations expect.
_STRING, _NUMBER, _OBJECT, _DATE = "a string", "a number", "an object", "an ISO-8601 date"
RESERVED_TRAITS: Dict[str, str] = {
    **dict.fromkeys(
        ("email", "name", "firstName", "lastName", "phone", "title", "username", "website", "description",
         "gender", "avatar", "id", "industry", "plan"),
        _STRING,
    ),
    "age": _NUMBER,
    "employees": _NUMBER,
    "address": _OBJECT,
    "company": _OBJECT,
    "createdAt": _DATE,
    "birthday": _DATE,
}
RESERVED_PROPERTIES: Dict[str, str] = {"revenue": _NUMBER, "value": _NUMBER, "price": _NUMBER, "quantity": _NUMBER}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    return "an array" if isinstance(value, list) else _OBJECT


def _has_type(value: Any, wanted: str) -> bool:
    if wanted == _NUMBER:
        return _is_number(value)
    if wanted == _OBJECT:
        return isinstance(value, dict)
    if wanted == _DATE:
        return isinstance(value, str) and bool(_ISO_8601.match(value))
    return isinstance(value, str)


def _lone_surrogates(value: Any, path: str = "") -> Iterator[str]:
    """Paths of strings (keys or values) that are not valid UTF-16 (what ``\\ud800`` escapes decode to)."""
    stack: List[Tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                yield where or "(value)"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                stack.append((child_path, key))
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))


def message_bytes(message: Any) -> int:
    """UTF-8 size of the message as compact JSON: what a client sends, not an ASCII-escaped copy."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def validate_message(message: Any) -> Optional[str]:
    """Why Segment would drop this message, or None if it keeps it."""
    if not isinstance(message, dict):
        return "message is not a JSON object"
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return f"unknown type {kind!r}"
    for name in ID_FIELDS:
        value = message.get(name)
        if value is not None and not isinstance(value, str) and not _is_number(value):
            return f"{name} must be a string, got {_json_type(value)}"
    if kind == "alias":
        if not _present(message.get("previousId")) or not _present(message.get("userId")):
            return "alias needs previousId and userId"
    elif not _present(message.get("userId")) and not _present(message.get("anonymousId")):
        return f"{kind} needs userId or anonymousId"
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        return "track needs event (a non-empty string)"
    if kind == "group" and not _present(message.get("groupId")):
        return "group needs groupId"
    return None


def _present(value: Any) -> bool:
    return value is not None and value != ""


def warnings_for(message: Dict[str, Any]) -> List[str]:
    """What Segment accepts in this message but would change, ignore or mistype downstream."""
    found: List[str] = []
    for name in ID_FIELDS:
        if _is_number(message.get(name)):
            found.append(f"{name} is a number: Segment stores it as the string {str(message[name])!r}")
    for name in TIME_FIELDS:
        value = message.get(name)
        if value is None:
            continue
        match = _ISO_8601.match(value) if isinstance(value, str) else None
        if match is None:
            found.append(f"{name} {value!r} is not ISO-8601: Segment uses the time it received the message")
        elif match.group("time") and not match.group("zone"):  # "T10:00:00" and " 10:00:00" alike
            found.append(f"{name} {value!r} has no time zone: taken as UTC")
    for name in OBJECT_FIELDS:
        if name in message and message[name] is not None and not isinstance(message[name], dict):
            found.append(f"{name} is {_json_type(message[name])}, not an object: Segment ignores it")
    context: Dict[str, Any] = message["context"] if isinstance(message.get("context"), dict) else {}
    for where, traits in (("traits", message.get("traits")), ("context.traits", context.get("traits"))):
        found.extend(_reserved(where, traits, RESERVED_TRAITS))
    if message.get("type") in ("track", "page", "screen"):
        properties = message.get("properties")
        found.extend(_reserved("properties", properties, RESERVED_PROPERTIES))
        currency = properties.get("currency") if isinstance(properties, dict) else None
        if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Za-z]{3}", currency)):
            found.append(f"properties.currency {currency!r} is not an ISO-4217 code such as 'USD'")
    for path in _lone_surrogates(message):
        found.append(f"{path} has a lone surrogate (invalid UTF-16): Segment replaces it with U+FFFD")
    size = message_bytes(message)
    if size > NEAR_LIMIT_BYTES:
        found.append(f"message is {size:,} bytes, close to the {MAX_MESSAGE_BYTES:,}-byte limit")
    return found


def _reserved(where: str, values: Any, reserved: Mapping[str, str]) -> Iterator[str]:
    if not isinstance(values, dict):
        return
    for name, wanted in reserved.items():
        value = values.get(name)
        if value is not None and not _has_type(value, wanted):
            yield f"{where}.{name} is {_json_type(value)}; Segment expects {wanted}"


def _merge_batch_defaults(body: Dict[str, Any], batch: List[Any]) -> None:
    """Top-level ``context`` and ``integrations`` apply to every message; the message's own keys win."""
    for name in ("context", "integrations"):
        defaults = body.get(name)
        if not isinstance(defaults, dict):
            continue
        for message in batch:
            if isinstance(message, dict):
                own = message.get(name)
                if own is None:
                    message[name] = dict(defaults)
                elif isinstance(own, dict):
                    message[name] = {**defaults, **own}


def _library(message: Dict[str, Any]) -> Optional[str]:
    context = message.get("context")
    library = context.get("library") if isinstance(context, dict) else None
    if not isinstance(library, dict) or not library.get("name"):
        return None
    return f"{library['name']}/{library['version']}" if library.get("version") else str(library["name"])


def _traits(message: Dict[str, Any]) -> Dict[str, Any]:
    """Traits wherever the client put them (RudderStack's client uses ``context.traits``)."""
    if isinstance(message.get("traits"), dict) and message["traits"]:
        return message["traits"]
    context = message.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    return traits if isinstance(traits, dict) else {}


def describe(message: Dict[str, Any]) -> str:
    """One line saying what happened."""
    kind = message.get("type")
    if kind == "track":
        return str(message.get("event"))
    if kind in ("page", "screen"):
        return " / ".join(str(x) for x in (message.get("category"), message.get("name")) if x)
    if kind == "group":
        return f"group {message.get('groupId')}"
    if kind == "alias":
        return f"from {message.get('previousId')}"
    return ", ".join(sorted(str(key) for key in _traits(message)))


def _text(value: Any) -> Optional[str]:
    # Index columns must be valid UTF-8 for SQLite; the stored JSON keeps the value as sent.
    if value is None:
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8")


class SegmentFormat(Format):
    name = "segment"
    routes = ("/v1/batch", "/v1/import") + tuple(f"/v1/{kind}" for kind in MESSAGE_TYPES)
    max_body_bytes = MAX_BODY_BYTES

    def credential(self, headers: Headers, body: Any) -> str:
        key = super().credential(headers, body)
        if not key and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            return body["writeKey"]  # Segment also takes the key in the body
        return key

    def messages(self, path: str, body: Any) -> List[Any]:
        if path in ("/v1/batch", "/v1/import"):
            batch = body.get("batch") if isinstance(body, dict) else None
            if not isinstance(batch, list):
                raise RequestError(400, "body needs a batch array")
            _merge_batch_defaults(body, batch)
        else:
            if not isinstance(body, dict):
                raise RequestError(400, "body must be a JSON object")
            body.setdefault("type", path.rsplit("/", 1)[-1])
            body.pop("writeKey", None)
            batch = [body]
        for message in batch:
            # A key sent inside a message is kept as a trace that one was sent, never whole.
            if isinstance(message, dict) and isinstance(message.get("writeKey"), str):
                message["writeKey"] = mask_secret(message["writeKey"])
        for index, message in enumerate(batch):
            if message_bytes(message) > MAX_MESSAGE_BYTES:
                raise RequestError(413, f"message {index} is over {MAX_MESSAGE_BYTES // 1024} KB")
        return batch

    def check(self, message: Any) -> Verdict:
        rejection = validate_message(message)
        if rejection is not None:
            return Verdict(rejection)
        return Verdict(None, warnings_for(message))

    def summarize(self, message: Dict[str, Any], fallback_key: str) -> Summary:
        message_id = message.get("messageId")
        return Summary(
            key=(_text(message_id) if isinstance(message_id, (str, int, float)) else None) or fallback_key,
            type=str(message["type"]),
            user_id=_text(message.get("userId")),
            anonymous_id=_text(message.get("anonymousId")),
            event=_text(message.get("event")) if message.get("type") == "track" else None,
            what=_text(describe(message)),
            library=_text(_library(message)),
        )

    def response(self, outcome: Outcome) -> Tuple[int, Dict[str, Any]]:
        return 200, {"success": True}  # Segment's answer, whatever it dropped
