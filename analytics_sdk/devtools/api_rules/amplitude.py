"""Pure: Amplitude's HTTP V2 (``/2/httpapi``) and Batch (``/batch``) APIs, as a local
collector answers them. No sockets or storage here: :func:`answer` takes a
request body and says what Amplitude would answer and which events it ingests.

Like Amplitude, a request is all or nothing: any invalid event makes a 400 that
names the events by index (``events_with_missing_fields``,
``events_with_invalid_fields``, ``events_with_invalid_id_lengths``) and ingests
none; a client resends the others. Sources: wire-facts.md A2-A5 (amp-docs
http-v2 and batch-event-upload).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set

__all__ = [
    "ROUTES",
    "LIMITS",
    "Limits",
    "Throttle",
    "Answer",
    "answer",
    "check_event",
    "Problem",
]

ROUTES = ("/2/httpapi", "/batch")
DEFAULT_MIN_ID_LENGTH = 5
MAX_DEPTH = 40
EPS_THRESHOLD = 30  # events per second per user/device (HTTP V2)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_events: int  # events per request, inclusive


LIMITS = {"/2/httpapi": Limits(1_000_000 - 1, 1999), "/batch": Limits(20_000_000, 2000)}

# ids Amplitude refuses outright (amp-docs: "anonymous", "null", ... -> 400)
_BLOCKED_IDS = frozenset(
    ("anonymous", "null", "none", "nil", "undefined", "unknown", "0", "-1", "lmy47v", "00000000-0000-0000-0000-000000000000")
)
_STRING_FIELDS = (
    "user_id", "device_id", "event_type", "app_version", "platform", "os_name", "os_version", "device_brand",
    "device_manufacturer", "device_model", "carrier", "country", "region", "city", "dma", "language",
    "productId", "revenueType", "currency", "ip", "idfa", "idfv", "adid", "android_id", "insert_id",
    "library", "partner_id", "version_name", "user_agent",
)
_INT_FIELDS = ("time", "quantity", "event_id", "session_id")
_NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")
_OBJECT_FIELDS = ("event_properties", "user_properties", "groups", "group_properties", "plan", "ingestion_metadata")


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing", "invalid" or "id_length"
    field: str


@dataclass
class Throttle:
    """Fault: answer 429 for events of these users/devices (``daily``: their daily quota is used up)."""

    users: FrozenSet[str] = frozenset()
    devices: FrozenSet[str] = frozenset()
    daily_users: FrozenSet[str] = frozenset()
    daily_devices: FrozenSet[str] = frozenset()

    def hit(self, event: Mapping[str, Any]) -> bool:
        user, device = event.get("user_id"), event.get("device_id")
        return (user in self.users or user in self.daily_users) or (device in self.devices or device in self.daily_devices)


@dataclass
class Answer:
    status: int
    body: Dict[str, Any]
    events: List[Dict[str, Any]] = field(default_factory=list)  # what was ingested
    api_key: str = ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def check_event(event: Any, min_id_length: int = DEFAULT_MIN_ID_LENGTH) -> List[Problem]:
    """What Amplitude would refuse in one event (empty: it is fine)."""
    if not isinstance(event, dict):
        return [Problem("invalid", "event")]
    problems: List[Problem] = []
    event_type = event.get("event_type")
    if event_type is None or event_type == "":
        problems.append(Problem("missing", "event_type"))
    user_id, device_id = event.get("user_id"), event.get("device_id")
    if not user_id and not device_id:
        problems.append(Problem("missing", "user_id"))  # "one of user_id or device_id"
    for name in _STRING_FIELDS:
        value = event.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(Problem("invalid", name))
    for name in ("user_id", "device_id"):
        value = event.get(name)
        if isinstance(value, str) and value:
            if value.strip().lower() in _BLOCKED_IDS:
                problems.append(Problem("invalid", name))
            elif len(value) < min_id_length:
                problems.append(Problem("id_length", name))
    for name in _INT_FIELDS:
        value = event.get(name)
        if value is not None and not _is_int(value):
            problems.append(Problem("invalid", name))
    for name in _NUMBER_FIELDS:
        value = event.get(name)
        if value is not None and not _is_number(value):
            problems.append(Problem("invalid", name))
    for name in _OBJECT_FIELDS:
        value = event.get(name)
        if value is not None and (not isinstance(value, dict) or _too_deep(value)):
            problems.append(Problem("invalid", name))
    return problems


def _error(status: int, error: str, **extra: Any) -> Answer:
    return Answer(status, {"code": status, "error": error, **extra})


def _index_lists(found: Dict[int, List[Problem]], kind: str) -> Dict[str, List[int]]:
    lists: Dict[str, List[int]] = {}
    for index in sorted(found):
        for problem in found[index]:
            if problem.kind == kind:
                indices = lists.setdefault(problem.field, [])
                if not indices or indices[-1] != index:
                    indices.append(index)
    return lists


def _min_id_length(raw_options: Any) -> int:
    """The request's ``options.min_id_length``, or Amplitude's default when absent or not a positive int."""
    options: Dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    requested = options.get("min_id_length")
    if isinstance(requested, int) and not isinstance(requested, bool) and requested > 0:
        return requested
    return DEFAULT_MIN_ID_LENGTH


def _invalid_events(found: Dict[int, Any]) -> Answer:
    """The 400 that names the bad events by index, as Amplitude's does."""
    missing = _index_lists(found, "missing")
    invalid = _index_lists(found, "invalid")
    lengths = _index_lists(found, "id_length")
    error = (
        "Request missing required field" if missing
        else "Invalid field values on some events" if invalid
        else "Invalid id length for user_id or device_id"
    )
    extra: Dict[str, Any] = {}
    if missing:
        extra["events_with_missing_fields"] = missing
    if invalid:
        extra["events_with_invalid_fields"] = invalid
    if lengths:
        extra["events_with_invalid_id_lengths"] = lengths
    return _error(400, error, **extra)


def answer(
    path: str,
    raw: bytes,
    *,
    api_keys: Optional[Iterable[str]] = None,
    throttle: Optional[Throttle] = None,
    now_ms: Optional[int] = None,
) -> Answer:
    """Amplitude's answer to ``POST path`` with body ``raw``.

    ``api_keys``: the keys the project accepts (None: any). ``throttle``: users
    and devices to answer 429 for.
    """
    limits = LIMITS.get(path.rstrip("/"), LIMITS["/2/httpapi"])
    if len(raw) > limits.max_body_bytes:
        return _error(413, "Payload too large")
    if not raw.strip():
        return _error(400, "Missing request body")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Invalid JSON request body")
    if not isinstance(payload, dict):
        return _error(400, "Invalid JSON request body")
    api_key = payload.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        return _error(400, "Request missing required field", missing_field="api_key")
    allowed: Optional[Set[str]] = set(api_keys) if api_keys is not None else None
    if allowed is not None and api_key not in allowed:
        return _error(400, f"Invalid API key: {api_key}")
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        return _error(400, "Request missing required field", missing_field="events")
    if len(events) > limits.max_events:
        return _error(413, "Payload too large")
    min_length = _min_id_length(payload.get("options"))

    found = {i: problems for i, event in enumerate(events) if (problems := check_event(event, min_length))}
    if found:
        return _invalid_events(found)

    if throttle is not None:
        throttled = [i for i, event in enumerate(events) if throttle.hit(event)]
        if throttled:
            return _throttled(events, throttled, throttle)

    received = int(time.time() * 1000) if now_ms is None else now_ms
    body = {"code": 200, "events_ingested": len(events), "payload_size_bytes": len(raw), "server_upload_time": received}
    return Answer(200, body, events=list(events), api_key=api_key)


def _throttled(events: List[Dict[str, Any]], throttled: List[int], throttle: Throttle) -> Answer:
    users: Dict[str, int] = {}
    devices: Dict[str, int] = {}
    for index in throttled:
        event = events[index]
        if event.get("user_id") in throttle.users | throttle.daily_users:
            users[event["user_id"]] = users.get(event["user_id"], EPS_THRESHOLD) + 1
        if event.get("device_id") in throttle.devices | throttle.daily_devices:
            devices[event["device_id"]] = devices.get(event["device_id"], EPS_THRESHOLD) + 1
    extra: Dict[str, Any] = {
        "eps_threshold": EPS_THRESHOLD,
        "throttled_devices": devices,
        "throttled_users": users,
        "throttled_events": throttled,
    }
    daily_users = sorted(u for u in users if u in throttle.daily_users)
    daily_devices = sorted(d for d in devices if d in throttle.daily_devices)
    if daily_users:
        extra["exceeded_daily_quota_users"] = {u: 500_000 for u in daily_users}
    if daily_devices:
        extra["exceeded_daily_quota_devices"] = {d: 500_000 for d in daily_devices}
    return _error(429, "Too many requests for some devices and users", **extra)
