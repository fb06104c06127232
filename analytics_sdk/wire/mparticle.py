"""mParticle's server-to-server Events API: ``POST {pod}/v2/bulkevents`` (or ``/v2/events``).

Two destinations share the request, limits and response handling here:

* :class:`MParticle` takes Segment-spec messages (``analytics_sdk.track(...)``),
  maps each with ``mparticle_mapping.to_mparticle`` and groups them per user into
  batches inside one bulk request;
* :class:`MParticleBatches` takes batches already built in mParticle's format
  (the background mode of ``analytics_sdk.mparticle``).

Encoded item of :class:`MParticle`: the batch fields as compact JSON, a newline,
then the event as compact JSON (nothing for identify/group). Compact JSON never
contains a raw newline, so :meth:`MParticle.body` splits without parsing, and
items with the same batch fields (the same user, device, consent...) share one
batch. Requests are accepted or refused as a whole, by status (``reply_from_status``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import ValidationError
from ..json_codec import encode
from .base import USER_AGENT, Destination, Reply, Unsendable, reply_from_status
from .bodies import array_parts, join_array
from .mparticle_mapping import IDENTITY_TYPES, MappingError, to_mparticle
from .segment import basic_auth

__all__ = ["MParticle", "MParticleBatches", "PODS", "pod_host", "error_detail"]

PODS = {
    "US1": "https://s2s.mparticle.com",
    "US2": "https://s2s.us2.mparticle.com",
    "EU1": "https://s2s.eu1.mparticle.com",
    "AU1": "https://s2s.au1.mparticle.com",
}
ENVIRONMENTS = ("production", "development")

# mParticle's limits: 256 KB per request, 128 KB per batch, 100 batches per bulk
# request. Kept under the decimal reading of "KB" to be safe with either.
MAX_REQUEST_BYTES = 256_000
MAX_BATCH_BYTES = 128_000
MAX_BATCHES = 100
_EVENTS_KEY = b'"events":['
# What body() adds per batch beyond an item's bytes: ',"events":[' and ']}'.
_PER_BATCH = len(_EVENTS_KEY) + 3


def pod_host(pod: Optional[str], host: Optional[str]) -> str:
    """Base URL (without ``/v2``) for a pod name or a custom host."""
    if host is not None:
        if not (isinstance(host, str) and host.startswith(("http://", "https://"))):
            raise ValidationError(f"host must be an http:// or https:// URL, got {host!r}")
        base = host.rstrip("/")
        return base[: -len("/v2")] if base.endswith("/v2") else base
    key = (pod or "US1").upper()
    if key not in PODS:
        raise ValidationError(f"pod must be one of {', '.join(PODS)} (or pass host=), got {pod!r}")
    return PODS[key]


def error_detail(body: bytes) -> str:
    """The messages of mParticle's ``{"errors": [{"code", "message"}]}`` body, if any."""
    try:
        errors = json.loads(body).get("errors") if body else None
    except (ValueError, AttributeError):
        return ""
    if not isinstance(errors, list):
        return ""
    parts = [
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)
    ]
    return "; ".join(p for p in parts if p)[:500]


class _EventsApi(Destination):
    """Request, auth, limits and responses of the Events API."""

    name = "mParticle"
    max_events_per_request = MAX_BATCHES
    max_request_bytes = MAX_REQUEST_BYTES
    max_event_bytes = MAX_BATCH_BYTES - _PER_BATCH

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        pod: Optional[str] = None,
        host: Optional[str] = None,
        bulk: bool = True,
        transport: Any = None,
    ) -> None:
        for label, value in (("api_key", api_key), ("api_secret", api_secret)):
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{self.name}: {label} is required (the input feed's key and secret)")
        self.base = pod_host(pod, host)
        self.bulk = bulk
        self.url = self.base + ("/v2/bulkevents" if bulk else "/v2/events")
        if not bulk:  # /v2/events takes one batch: one event per request keeps one user per batch
            self.max_events_per_request = 1
        self.transport = transport
        self._headers = {
            "Authorization": basic_auth(api_key, api_secret),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def headers(self) -> Dict[str, str]:
        return self._headers

    def read(self, status: Optional[int], body: bytes, retry_after: Optional[float], count: int) -> Reply:
        # 202 delivered; 400 split to isolate the bad batch, then dropped as
        # "invalid" with mParticle's errors; 401/403 dropped (never retried); 429
        # retried after Retry-After (this destination's uploader only); 5xx and
        # network errors retried with backoff.
        detail = error_detail(body) if status is not None and status >= 400 else ""
        return reply_from_status(status, retry_after, detail)


class MParticle(_EventsApi):
    """Segment-spec messages to mParticle (docs/destinations.md, "mParticle").

    ``environment`` ("production" or "development") is required: mParticle keeps
    the two apart, and a silent default would mix test data into production.
    ``anonymous_id`` says where a Segment anonymousId goes: ``"mp_deviceid"``
    (default; only UUIDs qualify), an identity name such as ``"other"``, or None.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        environment: str,
        pod: str = "US1",
        host: Optional[str] = None,
        *,
        bulk: bool = True,
        anonymous_id: Optional[str] = "mp_deviceid",
        transport: Any = None,
    ) -> None:
        if environment not in ENVIRONMENTS:
            raise ValidationError(f"environment must be 'production' or 'development', got {environment!r}")
        if anonymous_id is not None and anonymous_id != "mp_deviceid" and anonymous_id not in IDENTITY_TYPES:
            raise ValidationError(
                f"anonymous_id must be 'mp_deviceid', None or an identity name ({', '.join(IDENTITY_TYPES)}), "
                f"got {anonymous_id!r}"
            )
        super().__init__(api_key, api_secret, pod, host, bulk, transport)
        self.environment = environment
        self.anonymous_id = anonymous_id
        # envelope: '[' and ']' plus what each batch adds (one batch per item at worst)
        self.envelope_bytes = 2 + _PER_BATCH * self.max_events_per_request

    # -- caller's thread -------------------------------------------------------------

    def encode(self, message: Mapping[str, Any]) -> bytes:
        try:
            batch, event = to_mparticle(message, self.environment, self.anonymous_id)
        except MappingError as exc:
            raise Unsendable(exc.reason, exc.detail) from None
        head = encode(batch)
        return head + b"\n" + encode(event) if event is not None else head + b"\n"

    # -- uploader's thread --------------------------------------------------------------

    def body(self, events: Sequence[bytes]) -> bytes:
        batches = group_batches(events)
        if not self.bulk:
            return batches[0]
        return join_array(b"[", batches, b"]")

    # -- reporting ------------------------------------------------------------------------

    def event(self, item: bytes) -> Dict[str, Any]:
        head, _, event = item.partition(b"\n")
        try:
            batch = json.loads(head)
            batch["events"] = [json.loads(event)] if event else []
        except ValueError:
            return {"raw": item.decode("utf-8", "replace")}
        return batch

    def message_id(self, event: Mapping[str, Any]) -> Optional[str]:
        events = event.get("events") or []
        if events and isinstance(events[0], dict):
            value = (events[0].get("data") or {}).get("source_message_id")
        else:
            value = event.get("source_request_id")
        return value if isinstance(value, str) else None


def group_batches(items: Sequence[bytes]) -> List[bytes]:
    """Batches (bytes) for encoded items: one per distinct batch fields, in order of
    first appearance, each under mParticle's 128 KB per batch."""
    groups: Dict[bytes, List[List[bytes]]] = {}
    sizes: Dict[bytes, int] = {}  # bytes of each head's last chunk so far (kept, not re-summed)
    for item in items:
        head, _, event = item.partition(b"\n")
        chunks = groups.get(head)
        if chunks is None:
            groups[head] = chunks = [[]]
            sizes[head] = len(head) + _PER_BATCH
        chunk = chunks[-1]
        if chunk and sizes[head] + len(event) + 1 > MAX_BATCH_BYTES:
            chunk = []
            chunks.append(chunk)
            sizes[head] = len(head) + _PER_BATCH
        if event:
            chunk.append(event)
            sizes[head] += len(event) + 1
    out = []
    for head, chunks in groups.items():
        open_head = head[:-1] + (b"," if len(head) > 2 else b"")
        for chunk in chunks:
            out.append(join_array(open_head + _EVENTS_KEY, chunk, b"]}"))
    return out


class MParticleBatches(_EventsApi):
    """Batches already in mParticle's format (dicts), sent through ``/v2/bulkevents``.

    Used by ``analytics_sdk.mparticle``'s background mode; ``message_id`` is the
    batch's ``source_request_id`` (which that mode always sets).
    """

    envelope_bytes = 2

    def encode(self, message: Mapping[str, Any]) -> bytes:
        return encode(message)

    def body(self, events: Sequence[bytes]) -> bytes:
        return join_array(b"[", events, b"]")

    def body_parts(self, events: Sequence[bytes]) -> List[Any]:
        return array_parts(b"[", events, b"]")  # a queue run goes out as it is

    def message_id(self, event: Mapping[str, Any]) -> Optional[str]:
        value = event.get("source_request_id")
        return value if isinstance(value, str) else None
