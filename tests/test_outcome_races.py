"""Races between shutdown, holds, retries and user code: every event gets exactly one
outcome, and nothing waits forever. A scripted transport makes the timing repeatable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from analytics_sdk import Client, EventPlugin, PluginType
from analytics_sdk.delivery.transport import Attempt
from analytics_sdk.wire.base import Action, Destination, Reply, reply_from_status
from analytics_sdk.json_codec import encode

from .waiting import wait_until


class ScriptedTransport:
    timeout = 5.0

    def __init__(self, answer: Optional[Callable[[int], int]] = None) -> None:
        self.answer = answer or (lambda n: 200)
        self.requests = 0
        self._lock = threading.Lock()

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        with self._lock:
            self.requests += 1
            n = self.requests
        return Attempt(self.answer(n))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class Scripted(Destination):
    """Newline-joined JSON; ``reply(status, items)`` decides what each response means."""

    name = "Scripted"
    envelope_bytes = 2
    encode = staticmethod(encode)

    def __init__(self, reply: Callable[[Optional[int], List[bytes]], Reply], transport: ScriptedTransport, name: str = "Scripted") -> None:
        self.reply = reply
        self.transport = transport
        self.name = name

    def headers(self) -> Dict[str, str]:
        return {}

    def body(self, events) -> bytes:
        return b"\n".join(events)

    def read_batch(self, status, body, retry_after, items) -> Reply:
        return self.reply(status, items)


class Outcomes:
    def __init__(self, slow_reason: str = "") -> None:
        self.by_id: Dict[str, List[str]] = {}
        self.slow_reason = slow_reason
        self.in_slow_code = threading.Event()  # the uploader is inside the slow on_error
        self.shutdown_began: Callable[[], bool] = lambda: True

    def on_error(self, error: Exception, messages: List[Dict[str, Any]]) -> None:
        for message in messages:
            self.by_id.setdefault(message["messageId"], []).append(error.reason)
        if error.reason == self.slow_reason:
            self.in_slow_code.set()
            # User code that takes a while: it ends 0.8 s into the shutdown, which gives up
            # at 0.3 s and waits REPORT_GRACE (1 s) more for this report, however slow the machine.
            wait_until(self.shutdown_began, 30)
            time.sleep(0.8)


def test_a_shutdown_that_gives_up_during_on_error_still_reports_the_retries():
    outcomes = Outcomes(slow_reason="invalid")
    reply = lambda status, items: Reply(Action.RETRY, 503, drops={0: ("invalid", "bad event")})
    client = Client(destinations=[Scripted(reply, ScriptedTransport())], on_error=outcomes.on_error,
                    upload_size=3, upload_interval=0.01, handle_sigterm=False)
    consumer = client._routes[0].consumer
    outcomes.shutdown_began = lambda: consumer.closed
    ids = [client.track(f"u{i}", "E")[1]["messageId"] for i in range(3)]
    assert outcomes.in_slow_code.wait(30)
    assert client.shutdown(0.3) is False
    assert wait_until(lambda: all(mid in outcomes.by_id for mid in ids), 30)
    assert [outcomes.by_id.get(mid) for mid in ids] == [["invalid"], ["shutdown_timeout"], ["shutdown_timeout"]]


def test_flush_after_a_shutdown_that_reported_held_events_returns():
    outcomes = Outcomes()
    reply = lambda status, items: Reply(Action.DELIVERED, 429, holds={i: 3.0 for i in range(len(items))})
    transport = ScriptedTransport()
    client = Client(destinations=[Scripted(reply, transport)], on_error=outcomes.on_error, upload_interval=0.01, handle_sigterm=False)
    client.track("u1", "E")
    consumer = client._routes[0].consumer
    assert wait_until(lambda: bool(consumer.holds), 30)  # sent once, answered: held for 3 s
    assert client.shutdown(0.5) is False
    assert list(outcomes.by_id.values()) == [["shutdown_timeout"]]
    result: List[bool] = []
    waiter = threading.Thread(target=lambda: result.append(client.flush()), daemon=True)
    waiter.start()
    waiter.join(10)
    assert result == [True]
    time.sleep(3.2)  # past the hold: the reported event is never sent as well
    assert transport.requests == 1


def test_flush_from_on_error_with_two_destinations_does_not_deadlock():
    results: List[bool] = []
    client: Optional[Client] = None
    both_inside = threading.Barrier(2, timeout=10)

    def on_error(error: Exception, messages: Any) -> None:
        try:
            both_inside.wait()  # both uploaders are inside on_error now
        except threading.BrokenBarrierError:
            pass  # one at a time after all: each flush must still return
        results.append(client.flush())

    reply = lambda status, items: Reply(Action.DROP, 401, reason="unauthorized", detail="bad key")
    client = Client(
        destinations=[Scripted(reply, ScriptedTransport(), "A"), Scripted(reply, ScriptedTransport(), "B")],
        on_error=on_error, upload_interval=0.01, handle_sigterm=False,
    )
    client.track("u1", "E")
    assert wait_until(lambda: len(results) == 2, 30)  # both returned (False: not done yet, as they cannot wait)
    assert client.flush(30) is True


def test_groups_from_one_response_keep_separate_retry_budgets():
    reasons: Dict[str, Any] = {}

    def on_error(error: Exception, messages: Any) -> None:
        for message in messages:
            reasons[message["userId"]] = (error.reason, error.attempts)

    reply = lambda status, items: Reply(Action.RETRY, 429, retry_after=0.0, holds={0: 0.01})
    client = Client(destinations=[Scripted(reply, ScriptedTransport())], on_error=on_error, upload_size=4,
                    upload_interval=0.01, max_retries=10, handle_sigterm=False)
    for user in "abcd":
        client.track(user, "E")
    assert client.flush(20)
    assert {attempts for _, attempts in reasons.values()} == {11}  # 1 + max_retries each, not a shared 10


def test_the_clients_own_counters_start_at_zero_in_a_fork_child():
    class DropAll(EventPlugin):
        def execute(self, event):
            return None

    client = Client(destinations=[Scripted(lambda s, i: Reply(Action.DELIVERED, 200), ScriptedTransport())], handle_sigterm=False)
    client.add(DropAll(PluginType.BEFORE))
    for _ in range(5):
        client.track("u", "E")
    assert client.stats()["filtered"] == 5
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, str(client.stats()["filtered"]).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0"


_DROPPED_CLIENT = """
    import gc, sys, threading
    sys.path.insert(0, sys.argv[1])
    from tests.test_outcome_races import Scripted, ScriptedTransport
    from analytics_sdk import Client
    from analytics_sdk.wire.base import Action, reply_from_status

    failed = threading.Event()

    def reply(status, items):
        answer = reply_from_status(status)
        if answer.action is Action.DELIVERED:
            print("DELIVERED", len(items), flush=True)
        else:
            failed.set()
        return answer

    def job():
        transport = ScriptedTransport(lambda n: 500 if n == 1 else 200)
        client = Client(destinations=[Scripted(reply, transport)], upload_interval=0.01,
                        on_error=lambda e, m: print("REPORTED", e.reason, flush=True), handle_sigterm=False)
        client.track("u1", "E")
        assert failed.wait(30)  # the first attempt failed: in backoff now

    job()
    gc.collect()  # the dropped client's finalizer closed its consumer
"""


def test_exit_delivers_for_a_closed_client_with_work_still_in_flight():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_DROPPED_CLIENT), root], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The retry after the first 500 is due in about a second, well inside the 5 s exit deadline.
    assert "DELIVERED 1" in out.stdout and "REPORTED" not in out.stdout, out.stdout
