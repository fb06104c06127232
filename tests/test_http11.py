"""The minimal HTTP/1.1 client against real sockets on 127.0.0.1, including odd servers."""

from __future__ import annotations

import socket
import time
import threading
from typing import Callable, List

import pytest

from analytics_sdk.delivery.http11 import Connection, ProtocolError, request_head
from analytics_sdk.delivery.transport import HttpTransport

# How long the odd servers below stay silent or keep trickling: far past every bound the tests
# check (a few seconds, so a loaded machine cannot fail them), which a stretched timeout reaches.
SILENCE = 30.0


class RawServer:
    """Answers each request with the next canned response (bytes), over one listening socket."""

    def __init__(self, responses: List[bytes], close_after_each: bool = False) -> None:
        self.responses = list(responses)
        self.requests: List[bytes] = []
        self.close_after_each = close_after_each
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self._sock:  # closed once every response went out (no socket left to the GC)
            self._serve_all()

    def _serve_all(self) -> None:
        while self.responses:
            conn, _ = self._sock.accept()
            with conn, conn.makefile("rb") as reader:  # both closed: a makefile keeps the fd open
                while self.responses:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
                    self.requests.append(head + reader.read(length))
                    conn.sendall(self.responses.pop(0))
                    if self.close_after_each:
                        break


def _post(server: RawServer, body: bytes = b"{}") -> object:
    conn = Connection("127.0.0.1", server.port, request_head(f"127.0.0.1:{server.port}", "/v1/batch", {"X-Test": "1"}))
    try:
        return conn.post([body], timeout=5)
    finally:
        conn.close()


def test_content_length_chunked_and_retry_after():
    server = RawServer(
        [
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}",
        ]
    )
    response = _post(server, b'{"batch":[]}')
    assert (response.status, response.retry_after, response.body, response.keep_alive) == (429, "7", b"{}", True)
    assert server.requests[0].startswith(b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:")
    assert server.requests[0].endswith(b"Content-Length: 12\r\n\r\n{\"batch\":[]}")
    chunked = RawServer([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: 1\r\n\r\n"])
    assert _post(chunked).body == b"hello world"


def test_interim_responses_are_skipped_and_close_is_honoured():
    server = RawServer([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"])
    response = _post(server)
    assert response.status == 200 and response.keep_alive is False
    http10 = RawServer([b"HTTP/1.0 200 OK\r\n\r\nuntil close"], close_after_each=True)
    response = _post(http10)
    assert response.body == b"until close" and response.keep_alive is False


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    ],
)
def test_malformed_responses_are_protocol_errors_and_the_transport_reports_them(raw):
    server = RawServer([raw], close_after_each=True)
    with pytest.raises((ProtocolError, OSError)):
        _post(server)
    # Through the transport: a verdict (no status), never an exception.
    again = RawServer([raw, raw], close_after_each=True)
    attempt = HttpTransport(f"http://127.0.0.1:{again.port}/v1/batch", {}).send(b"{}")
    assert attempt.status is None and attempt.error


def test_a_keep_alive_socket_closed_by_the_server_is_replaced_at_once():
    # The server answers, then closes the socket; the next request finds it dead.
    server = RawServer([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 2, close_after_each=True)
    transport = HttpTransport(f"http://127.0.0.1:{server.port}/v1/batch", {"Authorization": "Basic x"})
    assert transport.send(b"{}").status == 200
    second = transport.send(b"{}")
    assert second.status == 200 and second.resent == 1  # one fresh try, counted, no backoff
    assert len(server.requests) == 2


def _one_shot_server(answer: Callable[[socket.socket], None], receive_buffer: int = 0) -> int:
    """A listener that reads one request head, then lets ``answer`` do the rest; its port."""
    listener = socket.socket()
    if receive_buffer:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
        with conn:  # (``answer`` may close it first)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_trickling_server_cannot_stretch_the_timeout():
    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
        for _ in range(int(SILENCE / 0.25)):  # one byte every 0.25 s: each receive is quick, the whole is not
            time.sleep(0.25)
            try:
                conn.sendall(b"a")
            except OSError:
                return
        conn.close()

    transport = HttpTransport(f"http://127.0.0.1:{_one_shot_server(trickle)}/v1/batch", {}, timeout=0.8)
    started = time.monotonic()
    attempt = transport.send(b"{}")
    assert attempt.status is None and time.monotonic() - started < 5  # 0.8 s


def test_an_answer_sent_before_the_body_was_read_is_not_lost():
    def refuse_early(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        time.sleep(0.05)
        conn.close()  # unread body left: the kernel resets the connection

    port = _one_shot_server(refuse_early, receive_buffer=4096)
    transport = HttpTransport(f"http://127.0.0.1:{port}/v1/batch", {}, timeout=5)
    assert transport.send(b"x" * 30_000_000).status == 413  # split, not retried as "no response"


def _sleep_then_close(conn: socket.socket) -> None:
    time.sleep(SILENCE)
    conn.close()


def _seconds_to_time_out(answer: Callable[[socket.socket], None], body_size: int, timeout: float) -> float:
    """POST ``body_size`` bytes to a server that reads the head and then does ``answer``;
    the attempt must fail as a timeout. Returns how long it took."""
    port = _one_shot_server(answer, receive_buffer=4096)
    transport = HttpTransport(f"http://127.0.0.1:{port}/v1/batch", {}, timeout=timeout)
    started = time.monotonic()
    attempt = transport.send(b"x" * body_size)
    assert attempt.status is None and attempt.error == "TimeoutError"
    return time.monotonic() - started


def test_a_server_that_never_answers_is_given_up_on_at_the_timeout():
    # Reads the request, then says nothing.
    assert 0.4 < _seconds_to_time_out(_sleep_then_close, 2, timeout=0.5) < 5


def test_a_server_that_stops_reading_cannot_hold_the_sender():
    # Reads the head only: the body fills both socket buffers and the send must time out.
    assert _seconds_to_time_out(_sleep_then_close, 30_000_000, timeout=0.5) < 5


@pytest.mark.parametrize("size", [10, 70_000, 2_000_000])
def test_head_and_body_arrive_whole_and_in_order(size):
    # Above 64 KB, head and body go out in one sendmsg() without being joined.
    server = RawServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    response = _post(server, body)
    assert response.status == 200 and response.body == b"ok"
    head, _, received = server.requests[0].partition(b"\r\n\r\n")
    assert received == body and f"Content-Length: {size}".encode() in head



def test_a_slow_reader_cannot_stretch_the_send():
    # Reads 16 KB every 0.1 s: each send makes progress, the whole cannot finish in time.
    def slow_reader(conn: socket.socket) -> None:
        while True:
            time.sleep(0.1)
            try:
                if not conn.recv(16384):
                    return
            except OSError:
                return

    assert _seconds_to_time_out(slow_reader, 6_000_000, timeout=1.0) < 5  # 1 s, where 6 MB at 160 KB/s take 37


@pytest.mark.parametrize("body_size", [2, 30_000_000])
def test_periodic_signals_cannot_stretch_the_timeout(body_size):
    # A SIGALRM every 0.2 s (a timer, a sampling profiler) interrupts every wait; the
    # request's deadline must hold anyway, for the receive and for the send.
    import signal

    previous = signal.signal(signal.SIGALRM, lambda *args: None)
    signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)
    try:
        elapsed = _seconds_to_time_out(_sleep_then_close, body_size, timeout=1.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
    assert elapsed < 5  # 1 s, where a wait restarted by each signal lasts the server's silence


def test_the_largest_accepted_timeout_works():
    # timeout= accepts up to threading.TIMEOUT_MAX; poll() takes at most ~24 days at once.
    server = RawServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    conn = Connection("127.0.0.1", server.port, request_head("127.0.0.1", "/v1/batch", {}))
    try:
        assert conn.post([b"{}"], timeout=threading.TIMEOUT_MAX).body == b"ok"
    finally:
        conn.close()


def test_an_answer_from_a_server_that_stops_reading_is_not_lost():
    # 413, then the server keeps the socket open without reading the rest of the body.
    def refuse_and_wait(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        time.sleep(SILENCE)
        conn.close()

    port = _one_shot_server(refuse_and_wait, receive_buffer=4096)
    transport = HttpTransport(f"http://127.0.0.1:{port}/v1/batch", {}, timeout=SILENCE)
    started = time.monotonic()
    assert transport.send(b"x" * 30_000_000).status == 413
    assert time.monotonic() - started < 5  # at once, not at the end of the stuck send (30 s)


def test_an_interrupted_request_leaves_no_half_used_connection():
    # Ctrl-C (any BaseException) mid-request: the next request must not read this one's answer.
    import signal

    interrupted = threading.Event()

    def slow_answer(conn: socket.socket) -> None:
        interrupted.wait(30)  # the answer comes after the interrupt, however slow the machine
        try:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        time.sleep(1)

    port = _one_shot_server(slow_answer)
    conn = Connection("127.0.0.1", port, request_head("127.0.0.1", "/v1/batch", {}))

    def interrupt(*args: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            conn.post([b"{}"], timeout=5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert conn._sock is None and not conn.used


@pytest.mark.parametrize("size", [10, 70_000, 2_000_000])
def test_a_body_in_pieces_arrives_as_if_joined(size):
    # The consumer sends a queue run's buffer beside the envelope, never joined.
    server = RawServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    middle = bytearray(bytes(range(256)) * (size // 256) + b"z" * (size % 256))
    parts = [b'{"batch":[', memoryview(middle), b'],"sentAt":"x"}']
    conn = Connection("127.0.0.1", server.port, request_head("127.0.0.1", "/v1/batch", {}))
    try:
        assert conn.post(parts, timeout=5).body == b"ok"
    finally:
        conn.close()
    head, _, received = server.requests[0].partition(b"\r\n\r\n")
    assert received == b"".join(parts) and f"Content-Length: {len(received)}".encode() in head
