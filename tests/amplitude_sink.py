"""A loopback Amplitude API for the Amplitude tests: records every request and answers
with the collector's Amplitude format (or a scripted reply)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

from analytics_sdk.devtools.api_rules import amplitude as fmt

Reply = Tuple[int, bytes]


class Sink:
    """``Sink(responder)``: ``responder(path, raw, default) -> (status, body)`` or None for the default."""

    def __init__(self, responder: Optional[Callable[[str, bytes, Callable[[], Reply]], Optional[Reply]]] = None,
                 **answer_options: Any) -> None:
        self.responder = responder
        self.answer_options = answer_options
        self.requests: List[Tuple[str, Dict[str, str], bytes]] = []
        self.ingested: List[Dict[str, Any]] = []  # events a 200 accepted, in arrival order
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = sink.handle(self.path, dict(self.headers), raw)
                # One write per response: split writes meet the client's delayed ACK (~40 ms each).
                head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                self.wfile.write(head.encode() + body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, path: str, headers: Dict[str, str], raw: bytes) -> Reply:
        with self.lock:
            self.requests.append((path, headers, raw))

            def default() -> Reply:
                result = fmt.answer(path, raw, **self.answer_options)
                self.ingested.extend(result.events)
                return result.status, json.dumps(result.body).encode()

            if self.responder is not None:
                scripted = self.responder(path, raw, default)
                if scripted is not None:
                    return scripted
            return default()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/2/httpapi"

    def bodies(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [json.loads(raw) for _, _, raw in self.requests]

    def __enter__(self) -> "Sink":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
