"""What a destination is: everything specific to one backend, and nothing else.

A destination turns a canonical message (the Segment-spec dict the builders
make) into that backend's event bytes, wraps encoded events into a request, states
its limits, and reads a response as per-event outcomes (a :class:`Reply`). The
queue, uploader threads, retry timing, deadlines, fork/exit handling, spool and
outcome accounting are shared (``analytics_sdk.delivery``) and act only on what a
``Reply`` says, never on a status code.

Everything here is pure: no threads, no I/O. A destination object is shared by
the caller's threads (``encode``) and the uploader threads (``body``, ``read``),
so it must not keep per-request state.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..version import VERSION
from .reply import Action, Reply, reply_from_status

__all__ = ["Action", "Reply", "Destination", "Unsendable", "reply_from_status", "USER_AGENT"]

USER_AGENT = f"analytics-sdk-python/{VERSION}"  # every destination's requests say who sends them


class Unsendable(Exception):
    """Raised by :meth:`Destination.encode` for a message this backend cannot take.

    The message is reported for this destination only (``reason``, ``detail``); the
    call still succeeds for the others.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Destination:
    """Base class: subclass it for a backend (see ``segment.py`` for the simplest).

    Class attributes are the backend's limits; ``upload_size`` (events per request
    when the client's ``upload_size`` is not smaller) and ``transport`` (a
    replacement sender, for tests) are optional.
    """

    name = "destination"  # key in stats() and in integrations={"<name>": False}
    max_events_per_request = 100
    max_request_bytes = 500_000
    max_event_bytes = 32 * 1024
    envelope_bytes = 64  # what body() adds around the joined events (plus one byte between two)
    gzip = False
    url = ""
    transport: Any = None

    # -- caller's thread ---------------------------------------------------------------

    def accepts(self, message: Mapping[str, Any]) -> bool:
        """Whether this destination takes ``message`` at all (Segment's ``integrations`` switch)."""
        integrations = message.get("integrations")
        if not integrations:
            return True
        switch = integrations.get(self.name)
        if switch is not None:  # True, False, or a dict of options (which means "on")
            return switch is not False
        return integrations.get("All") is not False

    def encode(self, message: Mapping[str, Any]) -> bytes:  # pragma: no cover - abstract
        """The backend's event for ``message``, as bytes (raise :class:`Unsendable` to refuse)."""
        raise NotImplementedError

    def encode_prebuilt(self, event: Dict[str, Any], insert_id: str) -> Optional[bytes]:
        """An event a facade built already in this backend's own format, as bytes; None
        to decline (the facade then sends the message instead). Declines by default."""
        return None

    # -- uploader's thread ----------------------------------------------------------------

    def headers(self) -> Dict[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def body(self, events: Sequence[bytes]) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def body_parts(self, events: Sequence[bytes]) -> List[Any]:
        """The body as pieces to send one after the other (bytes-like), for a transport
        that takes them (``send_parts``); by default the body in one piece."""
        return [self.body(events)]

    def read(self, status: Optional[int], body: bytes, retry_after: Optional[float], count: int) -> Reply:
        """What a response (``status`` None: no response at all) means for the ``count`` events sent."""
        raise NotImplementedError  # pragma: no cover - abstract

    def read_batch(self, status: Optional[int], body: bytes, retry_after: Optional[float], items: Sequence[bytes]) -> Reply:
        """Like :meth:`read`, with the encoded events sent, for backends whose replies name
        events by content (Amplitude's daily-quota user ids). What the consumer calls."""
        return self.read(status, body, retry_after, len(items))

    # -- reporting ------------------------------------------------------------------------

    def event(self, item: bytes) -> Dict[str, Any]:
        """An encoded event back as a dict, for ``on_error`` and callbacks (off the hot path)."""
        try:
            value = json.loads(item)
        except ValueError:
            return {"raw": item.decode("utf-8", "replace")}
        return value if isinstance(value, dict) else {"value": value}

    def message_id(self, event: Mapping[str, Any]) -> Optional[str]:
        """The canonical messageId an encoded event carries (for per-call callbacks)."""
        value = event.get("messageId")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} {self.url!r}>"
