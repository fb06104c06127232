"""Run as a script: a real signal at every line of the SDK the main thread runs.

``python signal_every_line.py URL SCENARIO``. The main thread makes a few calls
with a trace function that, at each line of this package it has not stopped at
before, raises SIGUSR1; the handler makes the same kind of call (and a flush with
no timeout) on top of it. A deadlock ends the process through faulthandler's
timer, with every thread's stack on stderr. At the end it prints
``main-calls handler-calls lines-interrupted flushed callbacks dropped``.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import signal
import sys
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional

import analytics_sdk
from analytics_sdk import Client

faulthandler.dump_traceback_later(60, exit=True)
URL, SCENARIO = sys.argv[1], sys.argv[2]
PACKAGE = os.path.dirname(analytics_sdk.__file__) + os.sep
# Traced: the package; with a proxy, also urllib3's connection pool (its queue.Queue has a lock).
TRACED = (PACKAGE, queue.__file__) if SCENARIO == "mparticle_proxy" else (PACKAGE,)
outcomes: List[Any] = []


def on_outcome(*args: Any) -> None:
    outcomes.append(args)


def segment_calls() -> Callable[[str, int], None]:
    options: Dict[str, Any] = {"host": URL, "upload_interval": 0.05}
    extra: Dict[str, Any] = {}
    if SCENARIO == "queue_full":  # every call after the first is dropped on the main thread
        options.update(max_queue_size=1, upload_interval=3600, upload_size=100)
    if SCENARIO.startswith("spool"):
        options.update(spool_path=os.path.join(tempfile.mkdtemp(), "spool.db"), spool_sync=SCENARIO == "spool_sync")
    if SCENARIO.startswith("sync_mode"):  # each call sends on the caller's thread
        options["sync_mode"] = True
    if SCENARIO == "callback":
        extra["callback"] = on_outcome
    if SCENARIO in ("default_client", "module_shutdown"):
        analytics_sdk.write_key, analytics_sdk.host = "k", URL
        end = analytics_sdk.shutdown if SCENARIO == "module_shutdown" else analytics_sdk.flush
        return lambda who, n: (analytics_sdk.track(who, "From " + who, {"n": n}),
                               end() if who == "Handler" else analytics_sdk.flush())
    client = Client("k", **options)
    clients.append(client)
    if SCENARIO == "plugin":  # a destination plugin: each event also goes to its worker
        client.add(Recorder())
    if SCENARIO == "shutdown":  # the handler's shutdown() must neither wait nor close the client
        return lambda who, n: (client.track(who, "From " + who, {"n": n}),
                               client.shutdown() if who == "Handler" else client.flush())
    return lambda who, n: (client.track(who, "From " + who, {"n": n}, **extra), client.flush())


class Recorder(analytics_sdk.DestinationPlugin):
    def execute(self, event: Dict[str, Any]) -> None:
        outcomes.append(event["event"])


def amplitude_calls() -> Callable[[str, int], None]:
    from analytics_sdk import amplitude

    client = amplitude.Amplitude("k", amplitude.Config(server_url=URL + "/2/httpapi", flush_interval_millis=50))
    clients.append(client)

    def call(who: str, n: int) -> None:
        if SCENARIO == "amplitude_apply" and who == "Main":
            client.configuration.flush_queue_size = 200 + n  # applied by the next track(): a reconfigure
        client.track(amplitude.BaseEvent("From " + who, user_id=who + "-user", event_properties={"n": n}))
        client.flush()
    return call


def mparticle_calls() -> Callable[[str, int], None]:
    from analytics_sdk import mparticle

    config = mparticle.Configuration()
    config.api_key, config.api_secret, config.host = "k", "s", URL + "/v2"
    config.background = SCENARIO == "mparticle_background"
    if SCENARIO == "mparticle_proxy":  # through a proxy: requests' Session (the Collector proxies)
        config.host, config.proxies = "http://collector.invalid/v2", {"http": URL, "https": URL}
    api = mparticle.EventsApi(config)
    clients.append(api)

    def call(who: str, n: int) -> None:
        batch = mparticle.Batch(environment="production")
        batch.user_identities = mparticle.UserIdentities(customerid=who)
        batch.events = [mparticle.AppEvent("From " + who, custom_attributes={"n": str(n)})]
        api.upload_events(batch)
    return call


clients: List[Any] = []
call = {"amplitude": amplitude_calls, "amplitude_apply": amplitude_calls, "mparticle": mparticle_calls,
        "mparticle_background": mparticle_calls, "mparticle_proxy": mparticle_calls}.get(SCENARIO, segment_calls)()
handled: List[int] = []
in_handler = [False]


def handler(signum: int, frame: Any) -> None:
    in_handler[0] = True
    try:
        handled.append(1)
        call("Handler", len(handled))
    finally:
        in_handler[0] = False


def on_stack(name: str, frame: Optional[Any]) -> bool:
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


def wanted(frame: Any) -> bool:
    """Where this scenario's signal goes (else the handler does the first time's work first)."""
    if SCENARIO == "default_client":
        return making_the_default_client(frame)
    if SCENARIO == "amplitude_apply":
        return on_stack("_apply", frame)  # building, then reconfiguring the pipeline
    return True


def making_the_default_client(frame: Optional[Any]) -> bool:
    """Inside the Client() that analytics_sdk makes as its default (earlier, the handler makes it)."""
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return (analytics_sdk.default_client is None and "__init__" in names
            and "_create_default_client" in names[names.index("__init__"):])


seen = set()


def at_each_line(frame: Any, event: str, arg: Any) -> Any:
    if event == "line" and not in_handler[0] and threading.current_thread() is threading.main_thread():
        where = (frame.f_code.co_filename, frame.f_lineno)
        if where not in seen and wanted(frame):
            seen.add(where)
            signal.raise_signal(signal.SIGUSR1)  # the handler runs here, before this line
    return at_each_line


def tracer(frame: Any, event: str, arg: Any) -> Any:
    return at_each_line if frame.f_code.co_filename.startswith(TRACED) else None


signal.signal(signal.SIGUSR1, handler)
calls = 0
for _ in range(3):  # (later calls take paths the first does not: a started uploader, a full queue)
    sys.settrace(tracer)
    call("Main", calls)
    sys.settrace(None)
    calls += 1
    if calls == 1:
        first_client = analytics_sdk.default_client
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
if SCENARIO == "module_shutdown" and analytics_sdk.default_client is not first_client:
    sys.exit("the handler's analytics_sdk.shutdown() replaced the default client it could not shut down")
if SCENARIO == "sync_mode_exit":  # no flush, no shutdown: what a handler's call queued goes out at exit
    flushed = True
else:
    flushed = all(client.shutdown(30) is not False for client in clients) if clients else analytics_sdk.shutdown(30)
dropped = sum(getattr(client, "stats", dict)().get("dropped_total", 0) for client in clients if isinstance(client, Client))
print(calls, len(handled), len(seen), flushed, len(outcomes), dropped, flush=True)
