"""A signal handler that calls track() and flush(): Python runs it on the main thread
between two bytecodes, possibly inside the SDK's own critical section."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analytics_sdk.devserver import Collector

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")

SCRIPT = """
    import faulthandler, itertools, signal, sys
    import analytics_sdk

    faulthandler.dump_traceback_later(40, exit=True)  # a deadlock shows where, then fails the test
    client = analytics_sdk.Client("k", host=sys.argv[1], max_queue_size=1_000_000, upload_interval=0.05)
    numbers = itertools.count(1)  # (handlers nest: "fired += 1" would race with itself)
    handled = []

    def handler(signum, frame):
        n = next(numbers)
        handled.append(n)
        client.track("handler", "From Handler", {"n": n})
        client.flush(timeout=0)

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)  # every 200 us: it lands inside put() often
    calls = 0
    while len(handled) < 3000:
        client.track("main", "From Main", {"n": calls})
        calls += 1
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # (one may still be pending: not counted after this)
    flushed = client.flush(timeout=30)
    print(calls, len(handled), flushed, flush=True)
"""


def test_track_and_flush_from_a_signal_handler_never_deadlock_and_lose_nothing():
    # Before: the handler waited for the queue lock its own thread held, for ever
    # (faulthandler's timer then ended the process).
    with Collector() as collector:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SCRIPT), collector.url],
            capture_output=True, text=True, timeout=90, env=dict(os.environ),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        calls, fired, flushed = result.stdout.split()
        assert flushed == "True"
        summary = collector.summary()
        assert summary["stored"] == int(calls) + int(fired) and summary["duplicates"] == 0
        numbers = [event["properties"]["n"] for event in collector.events(event="From Handler")]
        assert sorted(numbers) == list(range(1, int(fired) + 1))


SCENARIOS = ["plain", "callback", "plugin", "queue_full", "default_client", "module_shutdown", "spool",
             "spool_sync", "shutdown", "sync_mode", "sync_mode_exit", "amplitude", "amplitude_apply", "mparticle",
             "mparticle_background", "mparticle_proxy"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_signal_at_every_line_of_the_sdk_never_deadlocks_and_loses_nothing(scenario):
    # A handler that interrupted the SDK on its own thread, at each line it runs (see
    # signal_every_line.py): it must neither wait for the code it interrupted (a lock,
    # an uploader that needs one, the spool, a connection mid-request) nor lose an event.
    script = Path(__file__).with_name("signal_every_line.py")
    with Collector() as collector:
        result = subprocess.run([sys.executable, str(script), collector.url, scenario],
                                capture_output=True, text=True, timeout=90, env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-3000:]
        calls, handled, lines, flushed, outcomes, dropped = result.stdout.split()
        assert int(lines) > 0 and handled == lines  # a handler ran at each line
        assert flushed == "True"
        total = int(calls) + int(handled)
        summary = collector.summary()
        if scenario == "queue_full":  # refused on the main thread, counted: none lost unreported
            assert int(dropped) > 0 and summary["stored"] + int(dropped) == total
        else:
            assert dropped == "0" and summary["stored"] == total
        assert summary["duplicates"] == 0 and collector.rejections() == []
        if scenario in ("callback", "plugin"):  # an outcome callback, a destination plugin: each event once
            assert int(outcomes) == total


APPLICATION_SIGTERM = """
    import os, signal, sys
    import analytics_sdk

    results = []

    def on_term(signum, frame):  # the application's own "deliver what is queued at SIGTERM"
        results.append(client.flush(timeout=30))
        results.append(client.shutdown(timeout=30))

    signal.signal(signal.SIGTERM, on_term)  # before the client: the SDK's handler chains in front of it
    client = analytics_sdk.Client("k", host=sys.argv[1], upload_interval=3600, upload_size=1000)
    assert signal.getsignal(signal.SIGTERM) is not on_term, "the SDK did not chain its handler"
    for n in range(5):
        client.track("user-1", "Before SIGTERM", {"n": n})
    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, over this script: not over the SDK
    print(*results, flush=True)
"""


def test_an_application_sigterm_handler_chained_behind_ours_still_waits_and_delivers():
    # The SDK's handler in front of the application's is no SDK code that the signal
    # interrupted: the application's flush() and shutdown() there wait as anywhere else.
    with Collector() as collector:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(APPLICATION_SIGTERM), collector.url],
                                capture_output=True, text=True, timeout=90, env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["True", "True"], result.stderr[-3000:]
        assert collector.summary()["stored"] == 5


CALLED_ON_PURPOSE = """
    import sys
    import analytics_sdk
    from analytics_sdk.plugins import Plugin, PluginType

    url = sys.argv[1]
    audit = analytics_sdk.Client("k2", host=url, sync_mode=True)
    side = analytics_sdk.Client("k3", host=url, upload_interval=3600)
    said = []

    class Audit(Plugin):  # application code the SDK calls on purpose, on the caller's thread
        plugin_type = PluginType.ENRICHMENT

        def execute(self, event):
            said.append(audit.track("user-1", "Audited")[0])  # sync_mode: sent before it returns
            side.track("user-1", "Side")
            said.append(side.flush(timeout=30))  # waits: nothing of ours is held below
            return event

    def receipt(event, code, message):  # sync_mode: outcome callbacks run on the caller's thread
        said.append(audit.track("user-1", "Receipt")[0])

    main = analytics_sdk.Client("k1", host=url, sync_mode=True)
    main.add(Audit())
    main.track("user-1", "Outer", callback=receipt)
    print(*said, audit.stats()["queue_depth"], flush=True)
    # (no flush, no shutdown: a sync_mode client's events are out when track() returns)
"""


def test_code_the_sdk_calls_on_purpose_is_no_interruption():
    # A plugin or an outcome callback runs application code on top of the SDK's own
    # frames, on purpose and holding no lock: its track() in sync_mode sends at once
    # and its flush() waits, as they did before handlers were told apart.
    with Collector() as collector:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(CALLED_ON_PURPOSE), collector.url],
                                capture_output=True, text=True, timeout=90, env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["True", "True", "True", "0"], result.stderr[-3000:]
        assert sorted(e["event"] for e in collector.events()) == ["Audited", "Outer", "Receipt", "Side"]


LANDS_IN_A_PLUGIN_WAIT = """
    import os, signal, sys, time
    import analytics_sdk
    from analytics_sdk.plugins import Plugin, PluginType

    seen, fired = [], []

    class Destination(Plugin):
        plugin_type = PluginType.DESTINATION

        def execute(self, event):
            time.sleep(0.05)
            seen.append(event["event"])

    client = analytics_sdk.Client("k", host=sys.argv[1])
    client.add(Destination())
    worker = next(iter(client._plugin_workers.values()))
    changed, real_wait = worker._changed, worker._changed.wait

    def wait(timeout=None):  # the signal lands while flush() holds the plugin worker's lock
        woke = real_wait(timeout)
        if not fired:
            fired.append(os.kill(os.getpid(), signal.SIGUSR1))
        return woke

    changed.wait = wait
    signal.signal(signal.SIGUSR1, lambda signum, frame: client.track("user-1", "From Handler"))
    client.track("user-1", "Main")
    print(client.flush(timeout=30), client.shutdown(timeout=30), *sorted(seen), flush=True)
"""


def test_a_handlers_event_for_a_destination_plugin_is_never_left_behind():
    # Queued behind the plugin worker's lock, which flush() held: it must reach the
    # plugin (taken in when that code lets go of the lock), not stay aside for ever.
    with Collector() as collector:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(LANDS_IN_A_PLUGIN_WAIT), collector.url],
                                capture_output=True, text=True, timeout=90, env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split() == ["True", "True", "From", "Handler", "Main"], result.stderr[-3000:]
        assert collector.summary()["stored"] == 2
