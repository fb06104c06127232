"""A minimal HTTP/1.1 keep-alive client for one kind of request: ``POST`` a body, read
the status, the few headers we use and the body.

Why not ``http.client``: the head is built once per destination, and a response
costs a status line plus a ``readline`` per header, where ``http.client`` parses
every header through ``email.parser``; every Python instruction the uploader runs
is GIL time the application waits for (docs/architecture/hot-path.md, "The HTTP client").

Scope, on purpose: ``Content-Length`` and ``chunked`` bodies, ``Connection: close``,
interim 1xx responses skipped (also while the body is still being sent), no redirects (a 3xx is a status like any other),
no proxies (``RequestsTransport`` handles those). TLS through an ``ssl.SSLContext``.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

Buffer = Union[bytes, bytearray, memoryview]

__all__ = ["Response", "Connection", "ProtocolError", "request_head", "interim_head_length"]

_MAX_LINE = 65536
_MAX_HEADERS = 100
_SMALL_BODY = 64 * 1024  # below this, head and body go out in one send
_READ_STEP = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024  # responses are small; a huge one is a broken or hostile server


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


class _AnsweredEarly(ConnectionError):
    """A final answer arrived while the request was still being sent."""


_HEAD_END = re.compile(rb"\n\r?\n")
_INTERIM_PREFIX = b"HTTP/1.x 1"  # x: any digit


def interim_head_length(data: Buffer) -> Optional[int]:
    """For bytes received while a request is still being sent: the length of the
    interim (1xx) response head they start with; 0 if they may still become one
    (too few bytes yet, or none); None if they are something else, a final answer
    (101 Switching Protocols ends the exchange like one)."""
    start = bytes(data[: len(_INTERIM_PREFIX) + 2])
    for index, byte in enumerate(start[: len(_INTERIM_PREFIX)]):
        expected = _INTERIM_PREFIX[index]
        if byte != expected and not (expected == ord("x") and 48 <= byte <= 57):
            return None
    if start[9:12] == b"101":
        return None
    end = _HEAD_END.search(data)
    if end is None:
        return 0 if len(data) <= _MAX_LINE else None  # an endless "interim" head is no 1xx
    return end.end()


# Plain sockets are non-blocking, and every wait for one is a poll() bounded by what
# is left of the request's time: a send or a receive that can go ahead at once is
# one system call, one GIL release (hot-path.md, "The HTTP client").
# Deadlines are ours, so signals (which restart the kernel's own socket timeouts) and
# a peer that trickles bytes cannot stretch them. TLS keeps settimeout().
# ``select.poll``, ``socket`` and ``ssl`` are looked up at each use, never bound at
# import: gevent and eventlet patch them after we may have been imported (green.py).
_MAX_WAIT = 3600.0


class Connection:
    """One keep-alive connection to ``host:port`` (TLS when ``ssl_context`` is given)."""

    def __init__(self, host: str, port: int, head: bytes, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.host = host
        self.port = port
        self._head = head
        self._ssl_context = ssl_context
        self._sock: Optional[socket.socket] = None
        self._buffer = bytearray()  # received, not yet consumed
        self._polled = ssl_context is None  # non-blocking socket, our own waits (see above)
        self.used = False  # at least one response came back on this socket
        self.busy = False  # a request is under way (a signal handler on its thread must take another)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer = bytearray()
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
        if self._polled:
            sock.settimeout(0.0)
        self._sock = sock

    def post(self, parts: Sequence[Buffer], timeout: float, on_sent: Optional[Callable[[], None]] = None) -> Response:
        """Send one request whose body is ``parts`` (bytes, bytearrays, memoryviews: on a
        plain socket they go out in one ``sendmsg()``, never joined) and read its response
        within ``timeout`` seconds in all (not per read: a server that trickles bytes
        cannot stretch it); raises OSError/ProtocolError on trouble. ``on_sent`` is called
        once the whole request went out (from then on, the server may act on it)."""
        deadline = time.monotonic() + timeout
        if self._sock is None:
            self._connect(timeout)
        length = sum(len(part) for part in parts)
        head = self._head + str(length).encode("ascii") + b"\r\n\r\n"
        try:
            try:
                # A large body goes beside the head (no copy); a small one with it, in one piece.
                self._send([b"".join([head, *parts])] if length < _SMALL_BODY else [head, *parts], deadline)
            except socket.timeout:
                raise
            except OSError:
                # A server may answer (413, 401) before reading the whole body, then reset
                # or stop reading: its answer, if it came, says more than the reset does.
                early = self._early_response(min(1.0, max(0.0, deadline - time.monotonic())))
                if early is None:
                    raise
                return early
            if on_sent is not None:
                on_sent()
            response = self._read_response(deadline)
        except BaseException:
            self.close()  # never reuse a socket in the middle of an exchange (Ctrl-C, a timeout...)
            raise
        self.used = True
        if not response.keep_alive:
            self.close()
        return response

    def _send(self, parts: Sequence[Buffer], deadline: float) -> None:
        """Send ``parts`` in order, within the deadline."""
        sock = self._sock
        assert sock is not None
        if not self._polled:  # TLS: no sendmsg; Python's own timeouts
            for part in parts:
                self._arm(deadline)
                sock.sendall(part)
            return
        pending = [memoryview(part) for part in parts]
        gather = hasattr(sock, "sendmsg")  # not on Windows
        while pending:
            try:
                sent = sock.sendmsg(pending) if gather else sock.send(pending[0])
            except BlockingIOError:
                sent = 0
            while pending and sent >= len(pending[0]):  # drop what went, keep the rest in order
                sent -= len(pending.pop(0))
            if pending:
                pending[0] = pending[0][sent:]
                if self._wait_until_ready(deadline, writing=True):
                    self._set_interim_aside()

    def _set_interim_aside(self) -> None:
        """Bytes came while the body is still going out. An interim 1xx (``100 Continue``
        a server sends unasked, ``103 Early Hints``) is read and skipped, and sending goes
        on (RFC 9110 §15.2: the server still waits for the body); anything else is an
        early final answer (413, 401): stop sending and read it."""
        assert self._sock is not None
        try:
            chunk = self._sock.recv(_READ_STEP)
        except BlockingIOError:  # woken with nothing to read after all
            return
        if not chunk:
            raise _AnsweredEarly("the server closed the connection before the request was sent")
        self._buffer += chunk
        while self._buffer:
            length = interim_head_length(self._buffer)
            if length is None:
                raise _AnsweredEarly("the server answered before the request was sent")
            if not length:
                return  # the rest of an interim head is still on its way
            del self._buffer[:length]

    def _wait_until_ready(self, deadline: float, writing: bool = False) -> bool:
        """Block (GIL released) until the socket can be read or written, or raise at the
        deadline. True when, while ``writing``, there is something to read."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the request took longer than its timeout")
        assert self._sock is not None
        remaining = min(remaining, _MAX_WAIT)  # poll() refuses huge timeouts; callers wait again
        # While sending, also watch for an answer: a server that refuses the request
        # (413) may stop reading the body and wait, and its answer is the outcome.
        poll = getattr(select, "poll", None)  # None on Windows and under eventlet: select() there
        if poll is not None:
            poller = poll()
            poller.register(self._sock, select.POLLOUT | select.POLLIN if writing else select.POLLIN)
            events = poller.poll(remaining * 1000)  # retried after a signal with the time left (PEP 475)
            answered = writing and any(flags & select.POLLIN for _, flags in events)
        else:
            readable, _, _ = select.select([self._sock], [self._sock] if writing else [], [self._sock], remaining)
            answered = writing and bool(readable)
        return answered

    def _early_response(self, wait: float) -> Optional[Response]:
        try:
            response = self._read_response(time.monotonic() + wait)
        except (OSError, ProtocolError):
            response = None
        self.close()  # the request was not fully sent: this socket is done either way
        return response

    def _arm(self, deadline: float) -> None:
        """(TLS) Give the next send or receive only what is left of the request's time."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the request took longer than its timeout")
        assert self._sock is not None
        self._sock.settimeout(remaining)

    def _receive(self, deadline: float) -> bool:
        """One receive into the buffer within the deadline; False when the peer closed."""
        sock = self._sock
        assert sock is not None
        while True:
            if self._polled:
                self._wait_until_ready(deadline)  # only called when the buffer lacks data: wait first
            else:
                self._arm(deadline)
            try:
                chunk = sock.recv(_READ_STEP)
            except BlockingIOError:  # woken with nothing to read after all
                continue
            self._buffer += chunk
            return bool(chunk)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _line(self, deadline: float) -> bytes:
        """One line (b"" if the peer closed first), with the deadline checked before
        every receive. Usually already in the buffer."""
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                if end >= _MAX_LINE:
                    raise ProtocolError("response line too long")
                return self._take(end + 1)
            searched = len(self._buffer)
            if searched > _MAX_LINE:
                raise ProtocolError("response line too long")
            if not self._receive(deadline):
                return self._take(len(self._buffer))  # closed

    def _exact(self, size: int, deadline: float) -> bytes:
        """``size`` bytes, each receive within the deadline."""
        while len(self._buffer) < size:
            if not self._receive(deadline):
                raise ProtocolError("connection closed inside the body")
        return self._take(size)

    def _until_close(self, deadline: float) -> bytes:
        while self._receive(deadline):
            if len(self._buffer) > _MAX_BODY:
                raise ProtocolError("response body too large")
        return self._take(len(self._buffer))

    def _read_response(self, deadline: float) -> Response:
        while True:
            line = self._line(deadline)
            if not line:
                raise ProtocolError("connection closed before a status line")
            if not line.startswith(b"HTTP/1."):
                raise ProtocolError("not an HTTP/1.x status line")
            try:
                status = int(line[9:12])
            except ValueError:
                raise ProtocolError("unreadable status code") from None
            http10 = line[7:8] == b"0"
            length, chunked, close, keep, retry_after = self._read_headers(deadline)
            if status >= 200 or status == 101:
                break  # 100 Continue and other interim responses are skipped
        keep_alive = keep if http10 else not close
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._read_chunked(deadline)
        elif length is not None:
            if length > _MAX_BODY:
                raise ProtocolError("response body too large")
            body = self._exact(length, deadline)
        else:  # the body runs until the server closes the connection
            body = self._until_close(deadline)
            keep_alive = False
        return Response(status, retry_after, body, keep_alive)

    def _read_headers(self, deadline: float) -> Tuple[Optional[int], bool, bool, bool, Optional[str]]:
        length: Optional[int] = None
        chunked = close = keep = False
        retry_after: Optional[str] = None
        for _ in range(_MAX_HEADERS):
            line = self._line(deadline)
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

    def _read_chunked(self, deadline: float) -> bytes:
        parts: List[bytes] = []
        size_total = 0
        while True:
            size_line = self._line(deadline)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("unreadable chunk size") from None
            if size == 0:
                for _ in range(_MAX_HEADERS):  # trailers
                    if self._line(deadline) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            size_total += size
            if size < 0 or size_total > _MAX_BODY:
                raise ProtocolError("response body too large")
            parts.append(self._exact(size, deadline))
            self._line(deadline)  # the CRLF after each chunk
