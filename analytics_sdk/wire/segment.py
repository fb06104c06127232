"""The Segment Tracking API (``POST {host}/v1/batch``) and the services that speak it.

The canonical message already is a Segment message, so encoding is the one JSON
encoder; a request is ``{"batch": [...], "sentAt": ...}`` with HTTP Basic auth of
the write key; a response is all-or-nothing by status code. RudderStack,
Hightouch Events and Customer.io Data Pipelines accept the same API: they are
host presets of :class:`Segment`.
"""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import ValidationError
from ..stamps import utc_now_iso
from ..message_bytes import encode_message
from .base import USER_AGENT, Destination, Reply, reply_from_status
from .bodies import array_parts, join_array

__all__ = [
    "Segment",
    "RudderStack",
    "Hightouch",
    "CustomerIO",
    "DEFAULT_HOST",
    "MAX_MESSAGE_BYTES",
    "MAX_BATCH_BYTES",
    "ENVELOPE_BYTES",
    "build_body",
    "body_parts",
]

DEFAULT_HOST = "https://api.segment.io"

# Limits the Segment Tracking API enforces: 32 KB per message, 500 KB per request.
MAX_MESSAGE_BYTES = 32 * 1024
# Kept under both readings of "500 KB" (500,000 and 512,000 bytes).
MAX_BATCH_BYTES = 500_000

_HEAD = b'{"batch":['
_TAIL = b'],"sentAt":"'
_END = b'"}'
# Room for the envelope and a sentAt of up to 40 characters.
ENVELOPE_BYTES = len(_HEAD) + len(_TAIL) + len(_END) + 40


def _tail(sent_at: str) -> bytes:
    return _TAIL + sent_at.encode("ascii") + _END


def build_body(messages: Sequence[bytes], sent_at: str) -> bytes:
    """The request body ``{"batch": [...], "sentAt": ...}`` joined from encoded messages."""
    return join_array(_HEAD, messages, _tail(sent_at))


def body_parts(messages: Sequence[bytes], sent_at: str) -> List[Any]:
    """:func:`build_body` as pieces (see :func:`~analytics_sdk.wire.bodies.array_parts`)."""
    return array_parts(_HEAD, messages, _tail(sent_at))


def batch_url(host: Optional[str]) -> str:
    return (host or DEFAULT_HOST).rstrip("/") + "/v1/batch"


def basic_auth(username: str, password: str = "") -> str:
    token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


class Segment(Destination):
    """Segment's Tracking API, or any host that speaks it (``host=``)."""

    name = "Segment"
    max_events_per_request = 100_000  # the byte limit is the real one; upload_size bounds the count
    max_request_bytes = MAX_BATCH_BYTES
    max_event_bytes = MAX_MESSAGE_BYTES
    envelope_bytes = ENVELOPE_BYTES

    def __init__(self, write_key: str, host: Optional[str] = None, gzip: bool = False, transport: Any = None) -> None:
        if not isinstance(write_key, str) or not write_key:
            raise ValidationError(f"{self.name}: write_key is required")
        if host is not None and not (isinstance(host, str) and host.startswith(("http://", "https://"))):
            raise ValidationError(f"host must be an http:// or https:// URL, got {host!r}")
        self.host = host
        self.gzip = gzip
        self.url = batch_url(host)
        self.transport = transport
        self._headers = {
            "Authorization": basic_auth(write_key),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if gzip:
            self._headers["Content-Encoding"] = "gzip"

    def accepts(self, message: Mapping[str, Any]) -> bool:
        # integrations={...} are Segment's own routing switches: it always gets the message.
        return True

    # The canonical message is already a Segment message; the bare function (not a
    # method) is also the key the client shares one encoding under.
    encode = staticmethod(encode_message)  # type: ignore[assignment]

    def headers(self) -> Dict[str, str]:
        return self._headers

    def body(self, events: Sequence[bytes]) -> bytes:
        return build_body(events, utc_now_iso())

    def body_parts(self, events: Sequence[bytes]) -> List[Any]:
        return body_parts(events, utc_now_iso())

    def read(self, status: Optional[int], body: bytes, retry_after: Optional[float], count: int) -> Reply:
        return reply_from_status(status, retry_after)


class RudderStack(Segment):
    """RudderStack's data plane (``data_plane_url``, e.g. ``https://yourco.dataplane.rudderstack.com``)."""

    name = "RudderStack"

    def __init__(self, write_key: str, data_plane_url: str, gzip: bool = False, transport: Any = None) -> None:
        super().__init__(write_key, data_plane_url, gzip, transport)


class Hightouch(Segment):
    """Hightouch Events (default region us-east-1)."""

    name = "Hightouch"
    DEFAULT_HOST = "https://us-east-1.hightouch-events.com"

    def __init__(self, write_key: str, host: Optional[str] = None, gzip: bool = False, transport: Any = None) -> None:
        super().__init__(write_key, host or self.DEFAULT_HOST, gzip, transport)


class CustomerIO(Segment):
    """Customer.io Data Pipelines (``region`` "us" or "eu")."""

    name = "CustomerIO"
    HOSTS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}

    def __init__(
        self, write_key: str, region: str = "us", host: Optional[str] = None, gzip: bool = False, transport: Any = None
    ) -> None:
        if host is None and region not in self.HOSTS:
            raise ValidationError(f"region must be one of {sorted(self.HOSTS)}, got {region!r}")
        super().__init__(write_key, host or self.HOSTS[region], gzip, transport)
