"""Property-based fuzzing of the response reading: whatever a server (or a middlebox)
sends back, the transport returns a verdict in time, never an exception, never a hang;
through a client, each event ends delivered or reported, and the uploader lives on."""

from __future__ import annotations

import threading
import time
from typing import List, Optional

from hypothesis import HealthCheck, given, settings, strategies as st

from analytics_sdk import Client
from analytics_sdk.delivery.http11 import interim_head_length
from analytics_sdk.delivery.transport import HttpTransport

from .rawhttp import Peer, ScriptedServer

_STATUS = st.sampled_from([b"100", b"101", b"102", b"103", b"200", b"204", b"304", b"400", b"413", b"429", b"500",
                           b"503", b"999", b"2x0", b""])
_HEADER = st.one_of(
    st.tuples(st.sampled_from([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Connection",
                               b"Retry-After", b"X-Other"]),
              st.sampled_from([b"0", b"2", b"5", b"-1", b"x", b"99999999999", b"chunked", b"gzip, chunked",
                               b"close", b"keep-alive", b"7", b"Wed, 21 Oct 2015 07:28:00 GMT", b""]))
    .map(lambda kv: kv[0] + b": " + kv[1]),
    st.binary(max_size=40),
)
_CHUNKED = st.lists(st.binary(min_size=1, max_size=20), max_size=4).map(
    lambda chunks: b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nTrailer: x\r\n\r\n"
)
_RESPONSE = st.builds(
    lambda version, status, headers, eol, body: version + b" " + status + b" Reason" + eol
    + eol.join(headers) + (eol if headers else b"") + eol + body,
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1x", b"ICY"]),
    _STATUS,
    st.lists(_HEADER, max_size=5),
    st.sampled_from([b"\r\n", b"\n"]),
    st.one_of(st.binary(max_size=64), _CHUNKED),
)
# What the server writes: one or more responses (1xx first, some), or plain noise; then it closes.
_REPLY = st.one_of(st.lists(_RESPONSE, min_size=1, max_size=3).map(b"".join), st.binary(max_size=200))


class _Replayer:
    """One server for all examples: each connection gets the current example's bytes, in
    pieces, then a close (or a reset)."""

    def __init__(self) -> None:
        self.reply = b""
        self.pieces = 1
        self.reset = False
        self.server = ScriptedServer(self._script)

    def _script(self, peer: Peer) -> None:
        if not peer.read_request():
            return
        step = max(1, len(self.reply) // self.pieces)
        for start in range(0, len(self.reply), step):
            peer.send(self.reply[start:start + step])
        if self.reset:
            import socket
            import struct

            peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


_replayer: Optional[_Replayer] = None
_lock = threading.Lock()


def _server(reply: bytes, pieces: int, reset: bool) -> _Replayer:
    global _replayer
    with _lock:
        if _replayer is None:
            _replayer = _Replayer()
    _replayer.reply, _replayer.pieces, _replayer.reset = reply, pieces, reset
    return _replayer


_FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(reply=_REPLY, pieces=st.integers(1, 6), reset=st.booleans())
def test_any_reply_gives_a_verdict_in_time_and_never_raises(reply, pieces, reset):
    replayer = _server(reply, pieces, reset)
    transport = HttpTransport(replayer.server.url, {})
    started = time.monotonic()
    try:
        attempt = transport.send(b'{"batch":[]}', timeout=2.0)
    finally:
        transport.close()
    assert time.monotonic() - started < 2.0 + 1.0  # never a hang: the server closed, so no wait is needed
    assert (attempt.status is None) == bool(attempt.error)
    assert attempt.status is None or 100 <= attempt.status <= 999


@_FUZZ
@given(data=st.binary(max_size=120))
def test_interim_head_length_is_a_prefix_length_or_a_verdict(data):
    length = interim_head_length(data)
    assert length is None or 0 <= length <= len(data)
    if length:
        assert data[:length].endswith(b"\n") and data[9:10] == b"1"


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(reply=_REPLY, reset=st.booleans())
def test_through_a_client_each_event_is_delivered_or_reported(reply, reset):
    replayer = _server(reply, 2, reset)
    reasons: List[str] = []
    client = Client("key", host=replayer.server.url.rsplit("/v1", 1)[0], max_retries=0, timeout=2,
                    on_error=lambda error, messages: reasons.extend([error.reason] * len(messages)))
    try:
        client.track("user", "Fuzzed")
        assert client.flush(timeout=10)
        stats = client.stats()
        assert stats["delivered"] + stats["dropped_total"] == 1 and len(reasons) == stats["dropped_total"]
        assert all(thread.is_alive() for thread in client._consumer.threads)  # the uploader lives on
    finally:
        client.shutdown(timeout=2)
