"""mParticle's Events API: ``/v2/events`` (one batch) and ``/v2/bulkevents`` (up to 100).

The checks and answers are :mod:`analytics_sdk.devtools.api_rules.mparticle`'s
(the pure module the SDK's own tests answer with); this module fits them to the
collector. Credentials are HTTP Basic key:secret: none is a 401; with
``--write-key`` another key is a 403, and with ``--write-secret`` too another
secret is a 403. Each event is stored on its own, with its batch's fields
(``user_identities``, ``user_attributes``, ``device_info``, ``consent_state``...)
beside it under the batch's own names and the event under ``event``; a batch with
no events (an identify) is stored once with ``event`` null. A bad batch is
rejected whole, as mParticle does: ``/v2/events`` answers 400 with ``errors``,
``/v2/bulkevents`` still answers 202 and keeps the good batches. The generic
``--throttle-rate``/``--retry-after`` faults answer mParticle's 429 with Retry-After.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from ...api_rules import mparticle as pure
from . import Format, Headers, Outcome, RequestError, Summary, Verdict

__all__ = ["MParticleFormat"]

_USER_IDENTITIES = ("customer_id", "customerid", "email", "other")


def _text(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _split(batch: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One message per event of a good batch: the batch's fields plus ``event``."""
    fields = {k: v for k, v in batch.items() if k != "events"}
    events = batch.get("events") or []
    if not events:
        return [dict(fields, event=None)]
    return [dict(fields, event=event, event_index=i) for i, event in enumerate(events)]


def _identify_what(identities: Dict[str, Any], attributes: Any) -> str:
    """An event-less batch (an identify) in words: the identities it sets besides the user
    column's, then its user attributes ("email, $firstname" for a Segment identify with
    email and firstName traits)."""
    names = [str(k) for k in identities if k not in _USER_IDENTITIES[:2] and identities.get(k)]
    if isinstance(attributes, dict):
        names += sorted(str(k) for k in attributes)
    return ", ".join(names) or "user identities"


class MParticleFormat(Format):
    name = "mparticle"
    routes = pure.ROUTES
    max_body_bytes = pure.MAX_REQUEST_BYTES

    def credential_refusal(self, key: str) -> RequestError:
        if not key:
            return RequestError(401, "missing or malformed HTTP Basic credentials (API key and secret)")
        return RequestError(403, "invalid API key or secret")

    def messages(self, path: str, body: Any) -> List[Any]:
        # Request-level faults (not an array, too many batches) are the pure module's
        # answer in response(); here the batches become what the viewer lists.
        batches = body if path.rstrip("/") == "/v2/bulkevents" else [body]
        if not isinstance(batches, list):
            return []
        out: List[Any] = []
        for batch in batches:
            # A bad batch stays whole: it is rejected whole, with the pure module's reason.
            out.extend(_split(batch) if pure.check_batch(batch) is None else [batch])
        return out

    def check(self, message: Any) -> Verdict:
        if not isinstance(message, dict) or "event" not in message:  # a whole batch, refused
            return Verdict(pure.check_batch(message) or "batch refused")
        fields = {k: v for k, v in message.items() if k not in ("event", "event_index")}
        batch = dict(fields, events=[] if message["event"] is None else [message["event"]])
        return Verdict(pure.check_batch(batch))

    def summarize(self, message: Dict[str, Any], fallback_key: str) -> Summary:
        event = message.get("event")
        raw_identities = message.get("user_identities")
        identities: Dict[str, Any] = raw_identities if isinstance(raw_identities, dict) else {}
        user = next((identities[k] for k in _USER_IDENTITIES if identities.get(k)), None) or message.get("mpid")
        device = message.get("mp_deviceid")
        request_id = message.get("source_request_id")
        if event is None:
            what = _identify_what(identities, message.get("user_attributes"))
            return Summary(key=_text(request_id) or fallback_key, type="identify", user_id=_text(user),
                           anonymous_id=_text(device), what=_text(what))
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        kind = str(event.get("event_type"))
        name = data.get("event_name") or data.get("screen_name")
        raw_action = data.get("product_action")
        action: Dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        what = name or action.get("action") or data.get("application_transition_type") or kind
        key = data.get("source_message_id")
        if not key and request_id:
            key = f"{request_id}/{message.get('event_index', 0)}"
        return Summary(
            key=_text(key) or fallback_key,
            type=kind,
            user_id=_text(user),
            anonymous_id=_text(device),
            event=_text(name),
            what=_text(what),
        )

    def request_library(self, headers: Headers) -> Optional[str]:
        # mParticle's batches do not name their sender; its clients do in the User-Agent.
        return _text(headers.get("User-Agent"))

    def response(self, outcome: Outcome) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
        settings = outcome.settings
        keys = None
        if settings.write_key is not None and settings.write_secret is not None:
            keys = {settings.write_key: settings.write_secret}
        headers = {k: v for k, v in outcome.headers.items()} if outcome.headers is not None else {}
        reply = pure.answer(outcome.path, headers, outcome.raw, pure.Settings(keys=keys))
        body = json.loads(reply.body) if reply.body else {}
        extra = {k: v for k, v in reply.headers.items() if k.lower() != "content-type"}
        return reply.status, body, extra

    def error_body(self, status: int, reason: str) -> Dict[str, Any]:
        return json.loads(pure.errors_body([reason], _CODES.get(status, "BAD_REQUEST")))


_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 413: "REQUEST_TOO_LARGE", 429: "TOO_MANY_REQUESTS",
          500: "INTERNAL_SERVER_ERROR"}
