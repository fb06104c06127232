"""Amplitude's HTTP V2 (``/2/httpapi``) and Batch (``/batch``) event APIs.

Encoding maps a canonical message to an Amplitude event (``amplitude_mapping``),
a request is ``{"api_key": ..., "events": [...], "options": {...}}`` with the
key in the body, and a response is read per event (``amplitude_replies``):
Amplitude names bad and throttled events by index, so only those are dropped or
held back. Facts and sources: wire-facts.md, section A.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import ValidationError
from ..json_codec import encode as encode_json
from ..version import VERSION
from .amplitude_mapping import refusal, to_amplitude
from .amplitude_replies import events_reader, read_reply
from .base import USER_AGENT, Action, Destination, Reply
from .bodies import array_parts, join_array

__all__ = ["Amplitude", "SERVER_URLS", "MAX_STRING_LENGTH", "LIBRARY"]

log = logging.getLogger("analytics_sdk")

SERVER_URLS = {
    ("US", False): "https://api2.amplitude.com/2/httpapi",
    ("US", True): "https://api2.amplitude.com/batch",
    ("EU", False): "https://api.eu.amplitude.com/2/httpapi",
    ("EU", True): "https://api.eu.amplitude.com/batch",
}
MAX_STRING_LENGTH = 1024  # Amplitude cuts longer strings; we cut them before sending
MAX_PROPERTY_KEYS = 1024  # an object with more keys goes as {}, as amplitude-analytics sends it
LIBRARY = f"analytics-sdk-python/{VERSION}"


def _limited(value: Any, too_many: List[int]) -> Any:
    """A copy within Amplitude's limits: every string (keys too) at most 1024 characters,
    every object of more than 1024 keys ``{}`` (counted in ``too_many``)."""
    if isinstance(value, str):
        return value[:MAX_STRING_LENGTH]
    if isinstance(value, dict):
        if len(value) > MAX_PROPERTY_KEYS:
            too_many[0] += 1
            return {}
        return {_limited(k, too_many) if isinstance(k, str) else k: _limited(v, too_many) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_limited(v, too_many) for v in value]
    return value


class Amplitude(Destination):
    """Send events to Amplitude.

    ``server_zone`` "US" or "EU" and ``use_batch`` choose the endpoint (the Batch
    API allows 20 MB and higher per-device rates); ``server_url`` overrides it.
    ``min_id_length`` is sent as ``options.min_id_length``.
    ``retry_throttled_interval`` is how long events of a throttled user/device
    are held back after a 429 (seconds; Amplitude asks for 30; the client's
    retry policy caps it at 60).
    """

    name = "Amplitude"

    def __init__(
        self,
        api_key: str,
        server_zone: str = "US",
        use_batch: bool = False,
        server_url: Optional[str] = None,
        min_id_length: Optional[int] = None,
        retry_throttled_interval: float = 30.0,
        transport: Any = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValidationError("Amplitude: api_key is required (your project's API key)")
        zone = server_zone.upper() if isinstance(server_zone, str) else server_zone
        if server_url is None and zone not in ("US", "EU"):
            raise ValidationError(f"Amplitude: server_zone must be 'US' or 'EU', got {server_zone!r}")
        if server_url is not None and not (isinstance(server_url, str) and server_url.startswith(("http://", "https://"))):
            raise ValidationError(f"Amplitude: server_url must be an http:// or https:// URL, got {server_url!r}")
        if min_id_length is not None and (
            not isinstance(min_id_length, int) or isinstance(min_id_length, bool) or min_id_length < 1
        ):
            raise ValidationError(f"Amplitude: min_id_length must be a positive integer, got {min_id_length!r}")
        if not isinstance(retry_throttled_interval, (int, float)) or not retry_throttled_interval >= 0:
            raise ValidationError(
                f"Amplitude: retry_throttled_interval must be a non-negative number of seconds, got {retry_throttled_interval!r}"
            )
        self.server_zone = zone
        self.use_batch = bool(use_batch)
        self.retry_throttled_interval = float(retry_throttled_interval)
        self.transport = transport
        # Limits per API (amp-docs): fewer than 2000 events and 1 MB per HTTP V2
        # request; 2000 events and 20 MB per Batch request.
        self.max_events_per_request = 2000 if self.use_batch else 1999
        self.max_request_bytes = 20_000_000 if self.use_batch else 999_999
        self._headers = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": USER_AGENT}
        # How an object over Amplitude's key limit is logged (analytics_sdk.amplitude logs
        # amplitude-analytics' line on the "amplitude" logger).
        self.limits_log = log
        self.limits_message = "analytics_sdk: Amplitude: an object of more than %d keys is sent as {} (Amplitude's limit)"
        self.reconfigure(api_key, min_id_length, server_url or SERVER_URLS[(zone, self.use_batch)])
        self.max_event_bytes = self.max_request_bytes - self.envelope_bytes

    def reconfigure(self, api_key: Optional[str], min_id_length: Optional[int], url: str) -> None:
        """Take a new key, ``min_id_length`` or URL from the next request on, unchecked: the
        ``analytics_sdk.amplitude`` client applies its ``Config`` this way, read when used,
        as amplitude-analytics reads it (a missing key goes as null, as there). The URL
        is the transport's to use: this records it."""
        options = b""
        if min_id_length is not None:
            options = b',"options":{"min_id_length":%d}' % min_id_length
        prefix = b'{"api_key":' + json.dumps(api_key).encode("ascii") + b',"events":['
        self._envelope = (prefix, b"]" + options + b"}")  # one tuple: a request reads both or neither
        self.envelope_bytes = len(prefix) + len(options) + 2
        self.min_id_length = min_id_length
        self.url = url
        self._key_reported = False

    # -- caller's thread ---------------------------------------------------------------

    def encode(self, message: Mapping[str, Any]) -> bytes:
        return self._encode_event(to_amplitude(message, LIBRARY))

    def encode_prebuilt(self, event: Dict[str, Any], insert_id: str) -> Optional[bytes]:
        """``analytics_sdk.amplitude``'s fast path: ``event`` is already an Amplitude event
        (its classes' wire fields, none but ``EVENT_FIELDS``), so the message around it
        need not be built. The same bytes :meth:`encode` makes of that message; None
        (nothing changed) when Amplitude would refuse it: the message path reports that."""
        if refusal(event) is not None:
            return None
        event["insert_id"] = insert_id
        event["library"] = LIBRARY
        return self._encode_event(event)

    def _encode_event(self, event: Dict[str, Any]) -> bytes:
        data = encode_json(event)
        # A string over 1024 characters makes the event longer than that; only
        # then is it worth walking the event to cut strings.
        if len(data) > MAX_STRING_LENGTH:
            too_many = [0]
            cut = _limited(event, too_many)
            if too_many[0]:
                self.limits_log.error(self.limits_message, MAX_PROPERTY_KEYS)
            if cut != event:
                data = encode_json(cut)
        return data

    # -- uploader's thread ----------------------------------------------------------------

    def headers(self) -> Dict[str, str]:
        return self._headers

    def body(self, events: Sequence[bytes]) -> bytes:
        prefix, suffix = self._envelope
        return join_array(prefix, events, suffix)

    def body_parts(self, events: Sequence[bytes]) -> List[Any]:
        prefix, suffix = self._envelope
        return array_parts(prefix, events, suffix)  # a queue run goes out as it is

    def read(self, status: Optional[int], body: bytes, retry_after: Optional[float], count: int) -> Reply:
        return self.read_batch(status, body, retry_after, [b"{}"] * count)

    def read_batch(self, status: Optional[int], body: bytes, retry_after: Optional[float], items: Sequence[bytes]) -> Reply:
        reply = read_reply(status, body, retry_after, len(items), events_reader(items), self.retry_throttled_interval)
        if reply.action is Action.DROP and reply.reason == "unauthorized" and not self._key_reported:
            self._key_reported = True  # once per destination: the drops themselves are counted and reported
            log.error(
                "analytics_sdk: %s; check the api_key: events for this destination are dropped "
                "as 'unauthorized' until it is fixed",
                reply.detail,
            )
        return reply

    # -- reporting ------------------------------------------------------------------------

    def message_id(self, event: Mapping[str, Any]) -> Optional[str]:
        value = event.get("insert_id") or event.get("messageId")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:  # never show the API key
        return f"<Amplitude {self.url!r}>"
