"""The collector's lifecycle: a threaded HTTP server on 127.0.0.1 over an :class:`EventStore`."""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from .faults import Faults
from .handler import Handler
from .store import EventStore

__all__ = ["Collector", "RequestLog"]

# Past this many open connections, new ones get a 503 at once instead of a thread each.
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_IDLE_TIMEOUT = 30.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 37\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\": \"too many open connections\"}"
)


@dataclass
class RequestLog:
    """One POST as the collector saw it (for tests and debugging; headers unredacted)."""

    status: Optional[int]
    messages: int  # messages in the request (0 when the body was not read as one)
    body_bytes: int  # as received on the wire (compressed if gzip)
    headers: Dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    collector: "Collector"
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Collector:
    """A running local collector. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        port: int = 0,
        db: str = ":memory:",
        write_key: Optional[str] = None,
        faults: Optional[Faults] = None,
        host: str = "127.0.0.1",
        verbose: bool = False,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        write_secret: Optional[str] = None,
    ) -> None:
        self.write_key = write_key
        # mParticle's API secret: with a write key, requests to /v2/events and /v2/bulkevents
        # need Basic write_key:write_secret (403 otherwise). Other formats ignore it.
        self.write_secret = write_secret
        self.faults = faults or Faults()
        self.verbose = verbose
        self.idle_timeout = idle_timeout
        self.requests: List[RequestLog] = []
        self._requests_lock = threading.Lock()
        self._random = random.Random(self.faults.seed)
        self._stopping = threading.Event()
        self.store = EventStore(db)
        try:
            self._server = _Server((host, port), Handler)
        except BaseException:
            self.store.close()
            raise
        self._server.collector = self
        self._server.slots = threading.BoundedSemaphore(max_connections)
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}"

    def start(self) -> "Collector":
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="analytics_sdk-collector", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self.store.close()

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _log_request(self, entry: RequestLog) -> None:
        with self._requests_lock:
            self.requests.append(entry)

    # -- reading back ---------------------------------------------------------------

    def events(self, **filters: Any) -> List[Dict[str, Any]]:
        """Stored messages, oldest first; filters as :meth:`EventStore.query` (type, user_id, event, since...)."""
        return self.store.query(**filters)

    def rejections(self, **filters: Any) -> List[Dict[str, Any]]:
        """Messages dropped for a reason, oldest first, each with ``reason`` and ``message``."""
        return self.store.rejections(**filters)

    def summary(self) -> Dict[str, Any]:
        return self.store.summary()

    def counters(self) -> Dict[str, Any]:
        """:meth:`summary` plus rejected messages (by reason), refused requests and counts per format."""
        return self.store.counters()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` distinct messages are stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.summary()["stored"] >= count:
                return True
            time.sleep(0.02)
        return self.store.summary()["stored"] >= count
