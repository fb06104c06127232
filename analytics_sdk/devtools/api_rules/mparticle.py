"""Pure: mParticle's Events API (``/v2/events``, ``/v2/bulkevents``) as a local
collector answers it. No sockets or storage: :func:`answer` takes a request
(path, headers, body) and says what mParticle would answer and which batches it keeps.

Like mParticle (wire-facts B1-B6, mp-docs http and json-reference):

* auth is HTTP Basic of the input's key and secret: none -> 401, wrong -> 403;
* ``/v2/events`` takes one batch, ``/v2/bulkevents`` an array of up to 100;
  256 KB per request (413), 128 KB per batch;
* ``/v2/events`` answers 400 ``{"errors": [...]}`` for a bad batch; a bulk
  request that parses gets 202 even when some of its batches are bad (those are
  rejected, reported in :class:`Answer`, and not kept), unless ``strict_bulk``
  asks for a 400 naming them;
* an optional throttle fault answers 429 with ``Retry-After``.

Batch checks: environment, one identified user (a user identity, ``mpid``,
``mp_deviceid`` or a device id), identity names, user attribute values, consent
state, and per event the ``event_type`` and its required ``data`` fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..collector.formats import basic_auth

__all__ = ["ROUTES", "Settings", "Answer", "answer", "check_batch", "check_event", "credentials", "errors_body"]

ROUTES = ("/v2/events", "/v2/bulkevents")
MAX_REQUEST_BYTES = 256 * 1024
MAX_BATCH_BYTES = 128 * 1024
MAX_BATCHES = 100
MAX_ATTRIBUTES = 100

ENVIRONMENTS = ("production", "development")
# The Events API's 22 identity names, plus ``customerid``: the spelling mParticle's
# own Python SDK sends (and IDSync uses), which its servers take.
IDENTITIES = frozenset((
    "other", "customer_id", "customerid", "facebook", "twitter", "google", "microsoft", "yahoo", "email", "alias",
    "facebook_custom_audience_id", "other_id_2", "other_id_3", "other_id_4", "other_id_5", "other_id_6",
    "other_id_7", "other_id_8", "other_id_9", "other_id_10", "mobile_number", "phone_number_2", "phone_number_3",
))
DEVICE_IDS = ("ios_advertising_id", "ios_idfv", "android_advertising_id", "android_uuid", "roku_advertising_id",
              "fire_advertising_id", "microsoft_advertising_id", "push_token")
EVENT_TYPES = frozenset((
    "custom_event", "commerce_event", "session_start", "session_end", "screen_view", "uninstall", "crash_report",
    "opt_out", "first_run", "pre_attribution", "push_registration", "application_state_transition", "push_message",
    "network_performance", "breadcrumb", "profile", "push_reaction", "user_attribute_change", "user_identity_change",
))
CUSTOM_EVENT_TYPES = frozenset(("navigation", "location", "search", "transaction", "user_content", "user_preference",
                                "social", "other", "media", "attribution", "unknown"))
PRODUCT_ACTIONS = frozenset(("add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail",
                             "purchase", "refund", "add_to_wishlist", "remove_from_wish_list", "unknown"))
TRANSITIONS = frozenset(("application_initialized", "application_exit", "application_background",
                         "application_foreground", "unknown"))
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Settings:
    """How the collector plays mParticle: ``keys`` maps API key -> secret (None: any
    non-empty pair is accepted); ``throttle_retry_after`` makes every request a 429."""

    keys: Optional[Mapping[str, str]] = None
    strict_bulk: bool = False
    throttle_retry_after: Optional[float] = None


@dataclass
class Answer:
    """mParticle's response and what it kept."""

    status: int
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    batches: List[Dict[str, Any]] = field(default_factory=list)  # accepted batches
    rejected: List[Tuple[int, str]] = field(default_factory=list)  # (batch index, reason)


def errors_body(messages: List[str], code: str = "BAD_REQUEST") -> bytes:
    return json.dumps({"errors": [{"code": code, "message": m} for m in messages]}).encode("utf-8")


def _refuse(status: int, message: str, code: str = "BAD_REQUEST", api_key: str = "") -> Answer:
    return Answer(status, errors_body([message], code), {"Content-Type": "application/json"}, api_key)


def credentials(header: str) -> Tuple[str, str]:
    """(key, secret) of an HTTP Basic ``Authorization`` header; ('', '') when absent or malformed."""
    return basic_auth(header)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def answer(path: str, headers: Mapping[str, str], body: bytes, settings: Settings = Settings()) -> Answer:
    """What mParticle answers to ``POST path`` with these headers and body."""
    route = path.split("?", 1)[0].rstrip("/")
    if route not in ROUTES:
        return _refuse(404, f"no such endpoint: {route}", "NOT_FOUND")
    key, secret = credentials(_header(headers, "Authorization"))
    if not key or not secret:
        return _refuse(401, "missing or malformed HTTP Basic credentials (API key and secret)", "UNAUTHORIZED")
    if settings.keys is not None and settings.keys.get(key) != secret:
        return _refuse(403, "invalid API key or secret", "FORBIDDEN", key)
    if settings.throttle_retry_after is not None:
        answer_ = _refuse(429, "rate limit exceeded", "TOO_MANY_REQUESTS", key)
        answer_.headers["Retry-After"] = f"{settings.throttle_retry_after:g}"
        answer_.headers["X-MP-Rate-Limit-Exceeded"] = "account"
        return answer_
    if len(body) > MAX_REQUEST_BYTES:
        return _refuse(413, f"request is {len(body)} bytes; the limit is {MAX_REQUEST_BYTES}", "REQUEST_TOO_LARGE", key)
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        return _refuse(400, f"body is not JSON: {exc}", api_key=key)
    bulk = route == "/v2/bulkevents"
    if bulk:
        if not isinstance(parsed, list):
            return _refuse(400, "/v2/bulkevents takes a JSON array of batches", api_key=key)
        if len(parsed) > MAX_BATCHES:
            return _refuse(400, f"{len(parsed)} batches; at most {MAX_BATCHES} per bulk request", api_key=key)
        batches = parsed
    else:
        if not isinstance(parsed, dict):
            return _refuse(400, "/v2/events takes one batch (a JSON object)", api_key=key)
        batches = [parsed]
    result = Answer(202, api_key=key)
    for index, batch in enumerate(batches):
        problem = check_batch(batch)
        if problem is None:
            result.batches.append(batch)
        else:
            result.rejected.append((index, problem))
    if result.rejected and (not bulk or settings.strict_bulk):
        where = (lambda i: f"batch {i}: ") if bulk else (lambda i: "")
        messages = [where(i) + reason for i, reason in result.rejected]
        return Answer(400, errors_body(messages), {"Content-Type": "application/json"}, key, [], result.rejected)
    return result


def _attributes(where: str, values: Any, allow_lists: bool = False) -> Optional[str]:
    if not isinstance(values, dict):
        return f"{where} must be an object"
    if len(values) > MAX_ATTRIBUTES:
        return f"{where} has {len(values)} entries; at most {MAX_ATTRIBUTES}"
    for key, value in values.items():
        if allow_lists and isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
            continue
        if not isinstance(value, _SCALARS):
            return f"{where}.{key} must be a string, number, bool or null, got {type(value).__name__}"
    return None


def _consent(state: Any) -> Optional[str]:
    if not isinstance(state, dict):
        return "consent_state must be an object"
    for regulation in ("gdpr", "ccpa"):
        purposes = state.get(regulation) or {}
        if not isinstance(purposes, dict):
            return f"consent_state.{regulation} must be an object of purpose -> consent"
        for purpose, consent in purposes.items():
            if regulation == "ccpa" and purpose != "data_sale_opt_out":
                return f"consent_state.ccpa.{purpose}: CCPA has only the purpose data_sale_opt_out"
            if not isinstance(consent, dict) or not isinstance(consent.get("consented"), bool):
                return f"consent_state.{regulation}.{purpose}.consented must be true or false"
    return None


def check_batch(batch: Any) -> Optional[str]:
    """Why mParticle would refuse this batch, or None."""
    if not isinstance(batch, dict):
        return "a batch must be a JSON object"
    size = len(json.dumps(batch, separators=(",", ":")).encode("utf-8"))
    if size > MAX_BATCH_BYTES:
        return f"batch is {size} bytes; the limit is {MAX_BATCH_BYTES}"
    environment = batch.get("environment")
    if environment is not None and environment not in ENVIRONMENTS:
        return f"environment must be production or development, got {environment!r}"
    identities = batch.get("user_identities") or {}
    if not isinstance(identities, dict):
        return "user_identities must be an object"
    for name, value in identities.items():
        if name not in IDENTITIES:
            return f"user_identities.{name} is not an mParticle identity"
        if value is not None and not isinstance(value, str):
            return f"user_identities.{name} must be a string"
    device = batch.get("device_info") or {}
    if not (any(identities.values()) or batch.get("mpid") or batch.get("mp_deviceid")
            or (isinstance(device, dict) and any(device.get(k) for k in DEVICE_IDS))):
        return "no user: a batch needs a user identity, mpid, mp_deviceid or a device id (one user per batch)"
    if batch.get("user_attributes") is not None:
        problem = _attributes("user_attributes", batch["user_attributes"], allow_lists=True)
        if problem:
            return problem
    if batch.get("consent_state") is not None:
        problem = _consent(batch["consent_state"])
        if problem:
            return problem
    events = batch.get("events", [])
    if not isinstance(events, list):
        return "events must be an array"
    for index, event in enumerate(events):
        problem = check_event(event)
        if problem:
            return f"events[{index}]: {problem}"
    return None


def check_event(event: Any) -> Optional[str]:
    """Why mParticle would refuse this event, or None."""
    if not isinstance(event, dict):
        return "an event must be an object"
    kind = event.get("event_type")
    if kind not in EVENT_TYPES:
        return f"event_type {kind!r} is not an mParticle event type"
    data = event.get("data")
    if not isinstance(data, dict):
        return "data must be an object"
    if data.get("custom_attributes") is not None:
        problem = _attributes("data.custom_attributes", data["custom_attributes"])
        if problem:
            return problem
    if kind == "custom_event":
        if not isinstance(data.get("event_name"), str) or not data["event_name"]:
            return "custom_event needs data.event_name"
        if data.get("custom_event_type") not in CUSTOM_EVENT_TYPES:
            return f"custom_event needs a valid data.custom_event_type, got {data.get('custom_event_type')!r}"
    elif kind == "screen_view":
        if not isinstance(data.get("screen_name"), str) or not data["screen_name"]:
            return "screen_view needs data.screen_name"
    elif kind == "commerce_event":
        present = [k for k in ("product_action", "promotion_action", "product_impressions") if data.get(k) is not None]
        if not present:
            return "commerce_event needs product_action, promotion_action or product_impressions"
        action = data.get("product_action")
        if action is not None and (not isinstance(action, dict) or action.get("action") not in PRODUCT_ACTIONS):
            return "product_action.action is not an mParticle product action"
    elif kind == "application_state_transition":
        if data.get("application_transition_type") not in TRANSITIONS:
            return "application_state_transition needs a valid data.application_transition_type"
    for key in ("timestamp_unixtime_ms", "session_id", "session_duration_ms"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"data.{key} must be an integer"
    return None
