"""Pure: what an Amplitude response means for each event of the request.

Amplitude ingests nothing from a request it answers with 400, 413 or 429, and
names the culprits by index in the body, so (unlike amplitude-analytics, see
wire-facts A5) we drop exactly those, resend the rest at once, and report every
drop with a reason:

========================================  ==============================================
response (status = body ``code``,         what happens
else the HTTP status)
========================================  ==============================================
2xx (a body without ``code`` too)         delivered
400 "Invalid API key" / 401 / 403         all dropped as ``unauthorized`` (logged once, clearly)
400 ``missing_field``                     all dropped as ``invalid``, naming the field
400 with index lists                      named events dropped as ``invalid`` (or ``rejected``
                                          for silenced devices); the others resent at once
400 without index lists                   split until the bad event is alone, then dropped
413                                       split; a single event is dropped as ``too_large``
429 ``throttled_events``                  daily-quota users/devices dropped as ``quota_exceeded``;
                                          other throttled ones held ``throttle_interval`` s
                                          while the rest is resent at once
429 without indices                       retried with backoff (or ``Retry-After``)
408, 5xx, no response                     retried with backoff
other 4xx                                 dropped as ``rejected``
========================================  ==============================================
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from .reply import Action, Reply, classify

__all__ = ["read_reply", "status_of"]

INDEX_LISTS = ("events_with_missing_fields", "events_with_invalid_fields", "events_with_invalid_id_lengths")

EventAt = Callable[[int], Optional[Mapping[str, Any]]]  # the event sent at an index, decoded on demand


def status_of(http_status: Optional[int], body: bytes) -> Tuple[Optional[int], Dict[str, Any]]:
    """(status, parsed body): the body's ``code`` wins over the HTTP status, as Amplitude means it."""
    parsed: Dict[str, Any] = {}
    if body and body.lstrip()[:1] == b"{":
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        if isinstance(value, dict):
            parsed = value
    code = parsed.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code < 600:
        return code, parsed
    return http_status, parsed


def _indices(value: Any, count: int) -> Set[int]:
    if not isinstance(value, list):
        return set()
    return {i for i in value if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count}


def _field_indices(body: Mapping[str, Any], count: int) -> Dict[int, List[str]]:
    """index -> the fields Amplitude named for it (missing, invalid, id length)."""
    named: Dict[int, List[str]] = {}
    for key in INDEX_LISTS:
        lists = body.get(key)
        if not isinstance(lists, dict):
            continue
        what = {"events_with_missing_fields": "missing", "events_with_invalid_fields": "invalid"}.get(key, "too short")
        for field_name, indices in lists.items():
            for index in _indices(indices, count):
                named.setdefault(index, []).append(f"{field_name} ({what})")
    return named


def _error(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    return error if isinstance(error, str) else ""


def read_reply(
    http_status: Optional[int],
    body: bytes,
    retry_after: Optional[float],
    count: int,
    event_at: EventAt,
    throttle_interval: float,
) -> Reply:
    """The :class:`Reply` for one response to a request of ``count`` events."""
    if http_status is None:
        return Reply(Action.RETRY, None)
    status, parsed = status_of(http_status, body)
    assert status is not None
    error = _error(parsed)
    if 200 <= status < 300:
        return Reply(Action.DELIVERED, status)
    if status in (401, 403) or (status == 400 and error.lower().startswith("invalid api key")):
        # Amplitude echoes the key after "Invalid API key:"; it stays out of reports and logs.
        said = "Invalid API key" if status == 400 else (error.split(":")[0] or f"HTTP {status}")
        return Reply(Action.DROP, status, "unauthorized", f"Amplitude refused the API key ({said})")
    if status == 400:
        return _bad_request(status, parsed, error, count)
    if status == 413:
        return Reply(Action.SPLIT, status, "too_large", error or "Payload too large")
    if status == 429:
        return _throttled(status, parsed, error, retry_after, count, event_at, throttle_interval)
    if classify(status) is Action.RETRY:
        return Reply(Action.RETRY, status, retry_after=retry_after, detail=error)
    return Reply(Action.DROP, status, "rejected", error or f"Amplitude answered {status}")


def _bad_request(status: int, body: Mapping[str, Any], error: str, count: int) -> Reply:
    missing = body.get("missing_field")
    if isinstance(missing, str) and missing:
        reason = "unauthorized" if missing == "api_key" else "invalid"
        return Reply(Action.DROP, status, reason, f"Amplitude: request missing required field {missing}")
    drops: Dict[int, Tuple[str, str]] = {}
    for index, fields in _field_indices(body, count).items():
        drops[index] = ("invalid", f"{error or 'invalid event'}: {', '.join(sorted(fields))}")
    for index in _indices(body.get("silenced_events"), count):
        drops.setdefault(index, ("rejected", "Amplitude silenced this device (too many events)"))
    if drops:
        # Nothing of this request was ingested: the others go again at once.
        return Reply(Action.RETRY, status, retry_after=0.0, drops=drops, detail=error)
    return Reply(Action.SPLIT, status, "invalid", error or "Amplitude refused the event")


def _throttled(
    status: int,
    body: Mapping[str, Any],
    error: str,
    retry_after: Optional[float],
    count: int,
    event_at: EventAt,
    throttle_interval: float,
) -> Reply:
    throttled = _indices(body.get("throttled_events"), count)
    if not throttled:
        return Reply(Action.RETRY, status, retry_after=retry_after, detail=error or "Too many requests")
    quota_users = _id_set(body.get("exceeded_daily_quota_users"))
    quota_devices = _id_set(body.get("exceeded_daily_quota_devices"))
    drops: Dict[int, Tuple[str, str]] = {}
    holds: Dict[int, float] = {}
    for index in sorted(throttled):
        event = event_at(index) if (quota_users or quota_devices) else None
        if event is not None and (event.get("user_id") in quota_users or event.get("device_id") in quota_devices):
            drops[index] = ("quota_exceeded", "Amplitude's daily event quota for this user/device is used up")
        else:
            holds[index] = throttle_interval
    # Events that were not throttled were not ingested either: resend them now.
    return Reply(Action.RETRY, status, retry_after=0.0, drops=drops, holds=holds, detail=error)


def _id_set(value: Any) -> Set[str]:
    if isinstance(value, dict):
        return {k for k in value if isinstance(k, str)}
    if isinstance(value, list):
        return {k for k in value if isinstance(k, str)}
    return set()


def events_reader(items: Optional[Sequence[bytes]]) -> EventAt:
    """Decode the event at an index only when a reply needs it (daily-quota ids)."""

    def event_at(index: int) -> Optional[Mapping[str, Any]]:
        if items is None or not 0 <= index < len(items):
            return None
        try:
            value = json.loads(items[index])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    return event_at
