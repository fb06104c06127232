"""A scriptable HTTP/1.1 server on 127.0.0.1 for the response-reading tests: each
accepted connection is handed to a script that reads requests and writes raw bytes."""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional, Tuple

Script = Callable[["Peer"], None]


class Peer:
    """One accepted connection: read whole requests, write raw bytes."""

    def __init__(self, sock: socket.socket, server: "ScriptedServer") -> None:
        self.sock = sock
        self.server = server
        self._buffer = b""

    def read_head(self) -> bytes:
        """The next request head (b"" if the client closed first)."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        return head

    def read_body(self, head: bytes) -> bytes:
        length = content_length(head)
        while len(self._buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the client closed inside the body")
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        self.server.bodies.append(body)
        return body

    def read_request(self) -> Optional[Tuple[bytes, bytes]]:
        head = self.read_head()
        return (head, self.read_body(head)) if head else None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class ScriptedServer:
    """Runs ``script`` for every connection (each in a thread); ``bodies`` lists the
    request bodies the scripts read whole, ``connections`` how many were accepted."""

    def __init__(self, script: Script, receive_buffer: int = 0, max_segment: int = 0) -> None:
        self.script = script
        self.bodies: List[bytes] = []
        self.connections = 0
        self.errors: List[BaseException] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive_buffer:  # inherited by accepted sockets: a small window, as on a real network
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if max_segment:
            self._listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, max_segment)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/batch"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: socket.socket) -> None:
        with sock:
            try:
                self.script(Peer(sock, self))
            except OSError:
                pass  # the client went away: the script's business ends
            except BaseException as exc:  # noqa: BLE001 - kept for the test to see
                self.errors.append(exc)

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        except OSError:
            pass
        self._listener.close()

    def __enter__(self) -> "ScriptedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
