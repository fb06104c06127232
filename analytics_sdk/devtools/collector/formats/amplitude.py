"""Amplitude's HTTP V2 (``/2/httpapi``) and Batch (``/batch``) APIs.

The checks and answers are :mod:`analytics_sdk.devtools.api_rules.amplitude`'s
(the pure module the SDK's own tests answer with); this module only fits them
to the collector. Like Amplitude, a request is all or nothing: one invalid event
makes a 400 naming the events by index and nothing of the request is stored
(the collector stores only what a 2xx answer accepted); the invalid events are
listed under rejections with their fields. The API key travels in the body
(``api_key``); with ``--write-key`` any other key gets Amplitude's
``400 Invalid API key``. ``Faults.throttled_ids`` (``--throttle-ids``) makes
requests with those users' or devices' events a 429 naming them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ...api_rules import amplitude as pure
from . import Format, Headers, Outcome, RequestError, Summary, Verdict

__all__ = ["AmplitudeFormat"]

_KINDS = {"missing": "missing", "invalid": "invalid", "id_length": "id too short:"}
_TYPES = {"$identify": "identify", "$groupidentify": "group"}


def _text(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _min_id_length(body: Any) -> int:
    options = body.get("options") if isinstance(body, dict) else None
    value = options.get("min_id_length") if isinstance(options, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return pure.DEFAULT_MIN_ID_LENGTH


def _verdict(event: Any, min_id_length: int) -> Verdict:
    problems = pure.check_event(event, min_id_length)
    if not problems:
        return Verdict()
    return Verdict("; ".join(f"{_KINDS[p.kind]} {p.field}" for p in problems))


def _properties_set(properties: Any) -> str:
    """The user properties an identify touches: the names inside ``$set``, ``$setOnce``...
    (Amplitude's operations), or the top-level names of a plain object."""
    if not isinstance(properties, dict):
        return ""
    names: Set[str] = set()
    for name, value in properties.items():
        if str(name).startswith("$") and isinstance(value, (dict, list)):  # $set: {...}, $unset: [...]
            names.update(str(k) for k in value)
        else:
            names.add(str(name))
    return ", ".join(sorted(names))


class AmplitudeFormat(Format):
    name = "amplitude"
    routes = pure.ROUTES
    # The larger of the two APIs' limits; each route's own (1 MB for /2/httpapi) is the pure module's 413.
    max_body_bytes = max(limit.max_body_bytes for limit in pure.LIMITS.values())

    def credential(self, headers: Headers, body: Any) -> str:
        key = body.get("api_key") if isinstance(body, dict) else None
        return key if isinstance(key, str) else ""

    def credential_refusal(self, key: str) -> RequestError:
        if not key:
            return RequestError(400, "Request missing required field")
        return RequestError(400, f"Invalid API key: {key}")

    def messages(self, path: str, body: Any) -> List[Any]:
        # Request-level faults (no api_key, no events, too many) are the pure module's
        # answer in response(); the events are still checked one by one for the viewer.
        events = body.get("events") if isinstance(body, dict) else None
        return events if isinstance(events, list) else []

    def check(self, message: Any) -> Verdict:
        return _verdict(message, pure.DEFAULT_MIN_ID_LENGTH)

    def checker(self, path: str, body: Any) -> Callable[[Any], Verdict]:
        min_id_length = _min_id_length(body)
        return lambda message: _verdict(message, min_id_length)

    def summarize(self, message: Dict[str, Any], fallback_key: str) -> Summary:
        event_type = message.get("event_type")
        kind = _TYPES.get(event_type, "track") if event_type is not None else "track"
        if kind == "identify":
            what = _properties_set(message.get("user_properties")) or "$identify"
        elif kind == "group":
            groups = message.get("groups")
            what = "group " + ", ".join(f"{k}={v}" for k, v in groups.items()) if isinstance(groups, dict) else "$groupidentify"
        else:
            what = str(event_type)
        return Summary(
            key=_text(message.get("insert_id")) or fallback_key,
            type=kind,
            user_id=_text(message.get("user_id")),
            anonymous_id=_text(message.get("device_id")),
            event=_text(event_type) if kind == "track" else None,
            what=_text(what),
            library=_text(message.get("library")),
        )

    def response(self, outcome: Outcome) -> Tuple[int, Dict[str, Any]]:
        settings = outcome.settings
        ids = frozenset(settings.throttled_ids)
        reply = pure.answer(
            outcome.path,
            outcome.raw,
            api_keys=None if settings.write_key is None else [settings.write_key],
            throttle=pure.Throttle(users=ids, devices=ids) if ids else None,
        )
        return reply.status, reply.body

    def error_body(self, status: int, reason: str) -> Dict[str, Any]:
        return {"code": status, "error": reason}
