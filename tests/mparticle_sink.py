"""A loopback mParticle for the tests: a real HTTP server on 127.0.0.1 that
answers with ``analytics_sdk.devtools.api_rules.mparticle`` (or a scripted status
first) and records every request."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from analytics_sdk.devtools.api_rules.mparticle import Answer, Settings, answer, errors_body


@dataclass
class Request:
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Sink:
    """``script``: (status, headers) answered before the format's own answers, in order."""

    def __init__(self, settings: Settings = Settings(), script: Optional[List[Tuple[int, Dict[str, str]]]] = None) -> None:
        self.settings = settings
        self.script = list(script or [])
        self.requests: List[Request] = []
        self.answers: List[Answer] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = sink._handle(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handle(self, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, Dict[str, str], bytes]:
        with self._lock:
            self.requests.append(Request(path, headers, body))
            if self.script:
                status, extra = self.script.pop(0)
                return status, extra, errors_body([f"scripted {status}"]) if status >= 400 else b""
        result = answer(path, headers, body, self.settings)
        with self._lock:
            self.answers.append(result)
        return result.status, result.headers, result.body

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def batches(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [b for a in self.answers for b in a.batches]

    def events(self) -> List[Dict[str, Any]]:
        return [e for b in self.batches() for e in b.get("events", [])]

    def __enter__(self) -> "Sink":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
