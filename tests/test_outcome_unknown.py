"""A request cut off by the exit deadline after it went out whole: the server may have
stored its events, so they are reported as ``outcome_unknown``, not ``shutdown_timeout``."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Dict, Iterator, List

import pytest

from analytics_sdk import Client

from .rawhttp import Peer, ScriptedServer


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: the silent servers' scripts return then."""
    event = threading.Event()
    yield event
    event.set()


def _exit_with(server: ScriptedServer, n: int, size: int, **options) -> Dict[str, int]:
    """Track ``n`` events of ``size`` bytes of padding, then shut down with a 1 s deadline;
    the reasons on_error heard, by count of events."""
    heard: List[tuple] = []
    client = Client("key", host=f"http://127.0.0.1:{server.port}", upload_size=n,
                    on_error=lambda error, messages: heard.append((error.reason, len(messages))), **options)
    for i in range(n):
        client.track(f"user-{i}", "Checkout", {"pad": "x" * size})
    client.shutdown(timeout=1.0)
    counts: Counter = Counter()
    for reason, count in heard:
        counts[reason] += count
    assert dict(client.stats()["dropped"]) == dict(counts)  # counted apart, the same as reported
    return dict(counts)


@pytest.mark.parametrize("timeout", [15.0, 0.3], ids=["cut-mid-request", "cut-before-the-retry"])
def test_events_sent_whole_without_an_answer_are_reported_as_outcome_unknown(timeout, release):
    def read_then_say_nothing(peer: Peer) -> None:
        while peer.read_request():
            release.wait(30)

    with ScriptedServer(read_then_say_nothing) as server:
        assert _exit_with(server, 100, 10, timeout=timeout) == {"outcome_unknown": 100}
        assert sum(body.count(b'"messageId"') for body in server.bodies) >= 100  # the server did get them


def test_events_not_sent_whole_by_the_deadline_are_shutdown_timeout(release):
    # The server never reads the body: it cannot have acted on the request.
    def read_head_then_stall(peer: Peer) -> None:
        peer.read_head()
        release.wait(30)

    with ScriptedServer(read_head_then_stall, receive_buffer=4096, max_segment=1200) as server:
        assert _exit_with(server, 16, 30_000) == {"shutdown_timeout": 16}
        assert server.bodies == []
