"""A minimal HTTP/1.1 keep-alive client for one kind of request: ``POST`` a body, read
the status, the few headers we use and the body.

Why not ``http.client``: every Python instruction the uploader runs is GIL time the
application's threads wait for. ``http.client`` formats the request head anew and
parses every response header through ``email.parser`` (~100 µs per response on a
2-core machine, measured); here the head is built once per destination, and a
response costs a status line plus a ``readline`` per header. Measured with
``time.thread_time()`` around each request (README, "Performance").

Scope, on purpose: ``Content-Length`` and ``chunked`` bodies, ``Connection: close``,
interim 1xx responses skipped, no redirects (a 3xx is a status like any other),
no proxies (``RequestsTransport`` handles those). TLS through an ``ssl.SSLContext``.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import BinaryIO, Dict, List, Optional, Tuple

__all__ = ["Response", "Connection", "ProtocolError", "request_head"]

_MAX_LINE = 65536
_MAX_HEADERS = 100
_SMALL_BODY = 64 * 1024  # below this, head and body go out in one send


@dataclass(frozen=True)
class Response:
    status: int
    retry_after: Optional[str]
    body: bytes
    keep_alive: bool


def request_head(host_header: str, path: str, headers: Dict[str, str]) -> bytes:
    """Everything of the request head but the Content-Length value and the blank line."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Content-Length: ")
    return "\r\n".join(lines).encode("latin-1")


class ProtocolError(Exception):
    """The peer did not answer in HTTP/1.x."""


class Connection:
    """One keep-alive connection to ``host:port`` (TLS when ``ssl_context`` is given)."""

    def __init__(self, host: str, port: int, head: bytes, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.host = host
        self.port = port
        self._head = head
        self._ssl_context = ssl_context
        self._sock: Optional[socket.socket] = None
        self._reader: Optional[BinaryIO] = None
        self.used = False  # at least one response came back on this socket

    def close(self) -> None:
        sock, self._sock, self._reader = self._sock, None, None
        self.used = False
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self, timeout: float) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)
        self._sock = sock
        self._reader = sock.makefile("rb")

    def post(self, body: bytes, timeout: float) -> Response:
        """Send one request and read its response; raises OSError/ProtocolError on trouble."""
        if self._sock is None:
            self._connect(timeout)
        sock = self._sock
        assert sock is not None
        sock.settimeout(timeout)
        head = self._head + str(len(body)).encode("ascii") + b"\r\n\r\n"
        if len(body) < _SMALL_BODY:
            sock.sendall(head + body)
        else:  # no copy of a large body
            sock.sendall(head)
            sock.sendall(body)
        response = self._read_response()
        self.used = True
        if not response.keep_alive:
            self.close()
        return response

    def _read_response(self) -> Response:
        reader = self._reader
        assert reader is not None
        while True:
            line = reader.readline(_MAX_LINE)
            if not line:
                raise ProtocolError("connection closed before a status line")
            if not line.startswith(b"HTTP/1."):
                raise ProtocolError("not an HTTP/1.x status line")
            try:
                status = int(line[9:12])
            except ValueError:
                raise ProtocolError("unreadable status code") from None
            http10 = line[7:8] == b"0"
            length, chunked, close, keep, retry_after = self._read_headers(reader)
            if status >= 200 or status == 101:
                break  # 100 Continue and other interim responses are skipped
        keep_alive = keep if http10 else not close
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._read_chunked(reader)
        elif length is not None:
            body = reader.read(length)
            if len(body) < length:
                raise ProtocolError("connection closed inside the body")
        else:  # the body runs until the server closes the connection
            body = reader.read()
            keep_alive = False
        return Response(status, retry_after, body, keep_alive)

    @staticmethod
    def _read_headers(reader: BinaryIO) -> Tuple[Optional[int], bool, bool, bool, Optional[str]]:
        length: Optional[int] = None
        chunked = close = keep = False
        retry_after: Optional[str] = None
        for _ in range(_MAX_HEADERS):
            line = reader.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n"):
                return length, chunked, close, keep, retry_after
            if not line:
                raise ProtocolError("connection closed inside the headers")
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            # Only the headers we act on are decoded; the rest cost one partition each.
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise ProtocolError("unreadable Content-Length") from None
                if length < 0:
                    raise ProtocolError("negative Content-Length")
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                tokens = value.lower()
                close = b"close" in tokens
                keep = b"keep-alive" in tokens
            elif name == b"retry-after":
                retry_after = value.strip().decode("latin-1")
        raise ProtocolError("too many response headers")

    @staticmethod
    def _read_chunked(reader: BinaryIO) -> bytes:
        parts: List[bytes] = []
        while True:
            size_line = reader.readline(_MAX_LINE)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("unreadable chunk size") from None
            if size == 0:
                while reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            chunk = reader.read(size)
            if len(chunk) < size:
                raise ProtocolError("connection closed inside a chunk")
            parts.append(chunk)
            reader.readline(_MAX_LINE)  # the CRLF after each chunk
