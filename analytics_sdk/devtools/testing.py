"""Helpers for asserting, in your own tests, that your code tracked the right events.

No network and no monkeypatching of internals: a :class:`CapturingClient` is a
real :class:`~analytics_sdk.Client` whose transport keeps each request body in
memory, so captured messages went through the same validation, conversion and
encoding as in production and are exactly what would have been sent::

    from analytics_sdk.testing import capture

    def test_signup_tracks_the_event():
        with capture() as events:           # swaps analytics_sdk.default_client
            signup("ada@example.com")       # your code calls analytics_sdk.track(...)
        events.assert_tracked("Signed Up", user_id="ada", properties={"plan": "free"})

With pytest, ask for the ``analytics_events`` fixture instead (see docs/testing.md).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional

import analytics_sdk

from ..client import Client
from ..delivery.transport import Attempt

__all__ = ["MemoryTransport", "CapturingClient", "capture"]


class MemoryTransport:
    """A transport that accepts every request and keeps its messages."""

    timeout = 15.0
    url = "memory://"

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        batch = json.loads(body)["batch"]
        with self._lock:
            self.messages.extend(batch)
        return Attempt(200)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _is_subset(expected: Mapping[str, Any], actual: Any) -> bool:
    if not isinstance(actual, Mapping):
        return False
    for key, value in expected.items():
        if key not in actual:
            return False
        if isinstance(value, Mapping):
            if not _is_subset(value, actual[key]):
                return False
        elif actual[key] != value:
            return False
    return True


class CapturingClient(Client):
    """A Client that records, in memory, every message it would send.

    It sends synchronously, so messages are visible as soon as the call returns.
    """

    def __init__(self, write_key: str = "test-write-key", **options: Any) -> None:
        self.transport = MemoryTransport()
        options.setdefault("sync_mode", True)
        super().__init__(write_key, transport=self.transport, **options)

    # -- reading ------------------------------------------------------------------

    @property
    def messages(self) -> List[Dict[str, Any]]:
        """Every captured message, oldest first, as sent (wire format, camelCase)."""
        return list(self.transport.messages)

    def reset(self) -> None:
        """Forget what was captured."""
        with self.transport._lock:
            self.transport.messages.clear()

    def find(
        self,
        type: Optional[str] = None,
        event: Optional[str] = None,
        user_id: Optional[str] = None,
        **fields: Any,
    ) -> List[Dict[str, Any]]:
        """Captured messages matching all the given criteria.

        ``fields`` are wire fields whose expected value is a dict to be contained
        in the message's (``properties={"plan": "pro"}``) or a value to equal.
        """
        found = []
        for message in self.messages:
            if type is not None and message.get("type") != type:
                continue
            if event is not None and message.get("event") != event:
                continue
            if user_id is not None and message.get("userId") != str(user_id):
                continue
            if all(
                _is_subset(value, message.get(key)) if isinstance(value, Mapping) else message.get(key) == value
                for key, value in fields.items()
            ):
                found.append(message)
        return found

    # -- asserting -------------------------------------------------------------------

    def _fail(self, wanted: str) -> None:
        seen = [
            f"{m.get('type')} {m.get('event') or m.get('name') or ''} user={m.get('userId')}".strip()
            for m in self.messages
        ]
        raise AssertionError(f"{wanted} was not captured; captured: {seen or 'nothing'}")

    def assert_tracked(
        self,
        event: str,
        user_id: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        times: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Assert a track of ``event`` (for ``user_id``) whose properties include
        ``properties``; ``times`` checks the count. Returns the last match."""
        criteria: Dict[str, Any] = {} if properties is None else {"properties": properties}
        found = self.find(type="track", event=event, user_id=user_id, **criteria)
        description = f"track {event!r}" + (f" for user {user_id!r}" if user_id is not None else "")
        if properties:
            description += f" with properties containing {dict(properties)!r}"
        if not found:
            self._fail(description)
        if times is not None and len(found) != times:
            raise AssertionError(f"{description} was captured {len(found)} times, expected {times}")
        return found[-1]

    def assert_not_tracked(self, event: str, user_id: Optional[str] = None) -> None:
        found = self.find(type="track", event=event, user_id=user_id)
        if found:
            raise AssertionError(f"track {event!r} was captured {len(found)} times, expected none")

    def assert_identified(self, user_id: str, traits: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Assert an identify for ``user_id`` whose traits include ``traits``."""
        criteria: Dict[str, Any] = {} if traits is None else {"traits": traits}
        found = self.find(type="identify", user_id=user_id, **criteria)
        if not found:
            self._fail(f"identify for user {user_id!r}" + (f" with traits containing {dict(traits)!r}" if traits else ""))
        return found[-1]


@contextlib.contextmanager
def capture(**options: Any) -> Iterator[CapturingClient]:
    """Make the module-level API (``analytics_sdk.track`` ...) capture in memory
    for the duration of the block, then restore the previous default client."""
    client = CapturingClient(**options)
    previous = analytics_sdk.default_client
    analytics_sdk.default_client = client
    try:
        yield client
    finally:
        analytics_sdk.default_client = previous
        client.shutdown(timeout=1)
