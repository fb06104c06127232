"""A second backend for the tests: a loopback server speaking a format that is not
Segment's, and the destination that talks to it.

Format: ``POST /ingest`` with newline-separated JSON events ``{"id", "type", "user",
"event"}``; the answer is 200 with ``{"rejected": [index...], "throttled": {index:
seconds}}`` naming events it did not take (like Amplitude's 400 and 429 bodies),
or 503 while the server is "down", or nothing while it "stalls".
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set

from analytics_sdk.wire import Action, Destination, Reply, reply_from_status
from analytics_sdk.json_codec import encode


class LinesBackend:
    """The server. ``mode`` is "ok", "down" (503) or "stall" (no answer until released)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: List[Dict[str, Any]] = []  # accepted events, in arrival order
        self.reject_events: Set[str] = set()  # event names answered as rejected
        self.throttle_users: Dict[str, int] = {}  # user -> how many more times to throttle
        self.throttle_seconds = 1.0
        self.requests = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload = backend.handle(body)
                if status is None:  # stalled: never processed; answer 503 once released
                    backend._released.wait()
                    status, payload = 503, {"error": "stalled"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # clients that timed out and left
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/ingest"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "stall":
            self._released.clear()
        else:
            self._released.set()

    def handle(self, body: bytes):
        with self._lock:
            self.requests += 1
            if self.mode == "down":
                return 503, {"error": "down"}
            if self.mode == "stall":
                return None, {}
            events = [json.loads(line) for line in body.split(b"\n") if line]
            rejected, throttled = [], {}
            for index, event in enumerate(events):
                if event["event"] in self.reject_events:
                    rejected.append(index)
                elif self.throttle_users.get(event["user"], 0) > 0:
                    throttled[index] = self.throttle_seconds
                else:
                    self.received.append(event)
            for user in {events[i]["user"] for i in throttled}:
                self.throttle_users[user] -= 1
            return 200, {"rejected": rejected, "throttled": throttled}

    def ids(self) -> List[str]:
        with self._lock:
            return [event["id"] for event in self.received]

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


class Lines(Destination):
    """The destination for :class:`LinesBackend`."""

    name = "Lines"
    max_events_per_request = 50
    max_request_bytes = 100_000
    max_event_bytes = 4096
    envelope_bytes = 0

    def __init__(self, url: str) -> None:
        self.url = url

    def encode(self, message: Mapping[str, Any]) -> bytes:
        return encode(
            {
                "id": message["messageId"],
                "type": message["type"],
                "user": message.get("userId") or message.get("anonymousId"),
                "event": message.get("event") or message.get("name") or message["type"],
            }
        )

    def headers(self) -> Dict[str, str]:
        return {"Content-Type": "application/x-ndjson"}

    def body(self, events: Sequence[bytes]) -> bytes:
        return b"\n".join(events)

    def read(self, status: Optional[int], body: bytes, retry_after: Optional[float], count: int) -> Reply:
        if status != 200:
            return reply_from_status(status, retry_after)
        answer = json.loads(body)
        return Reply(
            Action.DELIVERED,
            status,
            drops={i: ("invalid", "the backend rejected the event") for i in answer["rejected"]},
            holds={int(i): s for i, s in answer["throttled"].items()},
        )

    def message_id(self, event: Mapping[str, Any]) -> Optional[str]:
        return event.get("id")
