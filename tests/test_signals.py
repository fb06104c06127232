"""SIGTERM: what process managers and Pool.terminate() send. Real subprocesses, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from analytics_sdk.devserver import Collector, Faults

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")


def _start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


_QUEUE_THEN_WAIT = """
    import sys, time, analytics_sdk
    {prelude}
    client = analytics_sdk.Client("k", host=sys.argv[1], max_queue_size=10000, upload_size=100, exit_timeout=20)
    for i in range(int(sys.argv[2])):
        client.track("u", "Queued", {{"i": i}})
    print("queued", client.stats()["queue_depth"] > 0, flush=True)
    time.sleep(60)
    print("not terminated", flush=True)
"""


def test_sigterm_delivers_what_was_queued_then_exits():
    # 30 ms per request: 5,000 events need 50 requests (~1.5 s); the old default lost ~96% of them.
    with Collector(faults=Faults(latency=0.03)) as collector:
        proc = _start(_QUEUE_THEN_WAIT.format(prelude=""), collector.url, "5000")
        assert proc.stdout.readline().strip() == "queued True"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "not terminated" not in out
        summary = collector.summary()
        assert summary["stored"] == 5000 and summary["duplicates"] == 0


def test_sigterm_with_a_dead_collector_reports_the_rest_and_still_exits_within_the_deadline():
    with Collector(faults=Faults(stall=True)) as collector:
        code = _QUEUE_THEN_WAIT.format(
            prelude="analytics_sdk.on_error = None"
        ).replace("exit_timeout=20", "exit_timeout=1, timeout=30, on_error=lambda e, m: __import__('os').write(1, f'dropped {e.reason} {len(m)}\\n'.encode())")
        proc = _start(code, collector.url, "300")
        assert proc.stdout.readline().strip() == "queued True"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM, err
        # Every one of them reported, none silently lost: the request the stalled collector
        # read is in doubt (outcome_unknown), the rest never went out (shutdown_timeout).
        reported = [line.split() for line in out.splitlines() if line.startswith("dropped ")]
        assert {reason for _, reason, _ in reported} <= {"shutdown_timeout", "outcome_unknown"}
        assert sum(int(n) for _, _, n in reported) == 300


def test_an_application_sigterm_handler_is_kept_and_exit_still_delivers():
    with Collector(faults=Faults(latency=0.03)) as collector:  # still queued when the signal comes
        prelude = """
    import signal
    def graceful(signum, frame):
        print("app handler ran", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, graceful)
    """
        proc = _start(_QUEUE_THEN_WAIT.format(prelude=textwrap.dedent(prelude).replace("\n", "\n    ")), collector.url, "500")
        assert proc.stdout.readline().strip() == "queued True"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err  # the application's exit code, not ours
        assert "app handler ran" in out
        assert collector.summary()["stored"] == 500


def test_an_ignored_sigterm_stays_ignored():
    with Collector() as collector:
        prelude = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
        code = _QUEUE_THEN_WAIT.format(prelude=prelude).replace("time.sleep(60)", "time.sleep(1.5)")
        proc = _start(code, collector.url, "10")
        assert proc.stdout.readline().startswith("queued")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "not terminated" in out, err


def test_a_swallowed_exit_still_terminates_the_process():
    with Collector() as collector:
        code = """
        import sys, time, analytics_sdk
        client = analytics_sdk.Client("k", host=sys.argv[1], exit_timeout=0.5)
        client.track("u", "Before")
        while True:
            try:
                print("ready", flush=True)  # inside the try: the signal can only land where it is swallowed
                time.sleep(60)
            except BaseException:  # an application that swallows everything
                pass
        """
        proc = _start(code, collector.url)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGTERM  # ended by the watchdog, as SIGTERM would have


def test_pool_terminate_delivers_every_workers_events():
    # `with Pool() as p: p.map(...)` ends with terminate(): SIGTERM to every worker.
    with Collector(faults=Faults(latency=0.03)) as collector:
        code = """
        import sys, multiprocessing, analytics_sdk
        analytics_sdk.write_key = "k"
        analytics_sdk.host = sys.argv[1]

        def work(i):
            analytics_sdk.track(f"user-{i}", "Row Processed", {"i": i})
            return i

        if __name__ == "__main__":
            multiprocessing.set_start_method("fork")
            with multiprocessing.Pool(2) as pool:
                assert len(pool.map(work, range(2000), chunksize=50)) == 2000
            print("done", flush=True)
        """
        proc = _start(code, collector.url)
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0 and "done" in out, err
        summary = collector.summary()
        assert summary["stored"] == 2000 and summary["duplicates"] == 0, summary


def test_a_multiprocessing_child_that_swallows_its_exit_still_ends_at_the_deadline():
    # Its later SIGTERMs are absorbed (its parent's machinery sends them), so the
    # watchdog, not a second SIGTERM, is what ends a child that swallows the exit.
    code = """
    import sys, time, multiprocessing, analytics_sdk

    def child(ready, host):
        global client
        client = analytics_sdk.Client("k", host=host, exit_timeout=0.5)
        client.track("u", "Before")
        while True:
            try:
                ready.set()
                time.sleep(60)
            except BaseException:  # an application that swallows everything
                pass

    if __name__ == "__main__":
        multiprocessing.set_start_method("fork")
        ready = multiprocessing.Event()
        proc = multiprocessing.Process(target=child, args=(ready, sys.argv[1]))
        proc.start()
        ready.wait(30)
        start = time.monotonic()
        for _ in range(3):  # hypercorn's parent, then multiprocessing's exit, then more
            proc.terminate()
            time.sleep(0.1)
        proc.join(30)
        print("exitcode", proc.exitcode, round(time.monotonic() - start, 1), flush=True)
    """
    with Collector() as collector:
        proc = _start(code, collector.url)
        out, err = proc.communicate(timeout=60)
    exitcode, took = out.split()[1:3]
    assert exitcode == str(128 + signal.SIGTERM), (out, err)  # the watchdog's end, the status the handler's exit has
    assert float(took) < 0.5 + 2 + 3, out  # exit_timeout + the watchdog's 2 s, plus a margin


@pytest.mark.parametrize("sigterms", [1, 2])
def test_sigterm_after_a_multiprocessing_child_began_its_normal_exit_still_delivers(sigterms):
    # The race behind the Pool test's rare losses: a worker gets its sentinel, returns
    # and enters multiprocessing's exit function, and terminate()'s SIGTERM lands there
    # before the SDK's exit finalizer has run. A finalizer of higher priority that
    # signals the process itself puts the SIGTERM exactly there, every time.
    # Two: hypercorn's parent terminates a worker that is exiting, then multiprocessing's
    # exit terminates it again (it is daemonic); the second used to kill it.
    with Collector() as collector:
        code = """
        import os, signal, sys, multiprocessing, multiprocessing.util, analytics_sdk

        def child(host):
            # A full request is 1,000 events and the uploader waits a minute for one:
            # all 300 are still queued at exit, so only the exit path can deliver them.
            # (Kept alive, as the default client is: a dropped client starts its drain at once.)
            global client
            client = analytics_sdk.Client("k", host=host, upload_size=1000, upload_interval=60, exit_timeout=20)
            for i in range(300):
                client.track("u", "Queued", {"i": i})
            for n in range(int(sys.argv[2])):
                multiprocessing.util.Finalize(None, os.kill, (os.getpid(), signal.SIGTERM), exitpriority=100 - n)

        if __name__ == "__main__":
            multiprocessing.set_start_method("fork")
            proc = multiprocessing.Process(target=child, args=(sys.argv[1],))
            proc.start()
            proc.join()
            print("exitcode", proc.exitcode, flush=True)
        """
        proc = _start(code, collector.url, str(sigterms))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "exitcode" in out, err
        summary = collector.summary()
        assert summary["stored"] == 300 and summary["duplicates"] == 0, summary


def test_a_process_that_is_no_multiprocessing_child_keeps_its_wakeup_fd():
    # Only multiprocessing workers get a watcher: elsewhere the wakeup fd stays the
    # application's (daemonising code closes every descriptor; event loops want it).
    code = """
    import signal, sys, analytics_sdk
    client = analytics_sdk.Client("k", host=sys.argv[1])
    client.track("u", "E")
    from analytics_sdk.delivery import signal_watch
    print(signal.set_wakeup_fd(-1), signal_watch.watching(), signal.getsignal(signal.SIGTERM).__name__, flush=True)
    """
    with Collector() as collector:
        proc = _start(code, collector.url)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.split() == ["-1", "False", "_on_sigterm"]


def test_an_event_loops_wakeup_fd_is_left_alone():
    # Someone else's wakeup fd (asyncio sets one for its signal handlers) is never
    # replaced: the watcher is not started, SIGTERM still works through the handler.
    code = """
    import os, signal, socket, sys, analytics_sdk
    theirs, _ = socket.socketpair()
    theirs.setblocking(False)
    signal.set_wakeup_fd(theirs.fileno())
    client = analytics_sdk.Client("k", host=sys.argv[1])
    from analytics_sdk.delivery import signal_watch
    print(signal.set_wakeup_fd(-1) == theirs.fileno(), signal_watch.watching(), flush=True)
    """
    with Collector() as collector:
        proc = _start(code, collector.url)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.split() == ["True", "False"]


def test_a_fork_child_of_a_worker_gets_its_own_watcher_and_the_worker_is_not_disturbed():
    # A worker with a watcher forks: the child inherits the wakeup fd (the worker's
    # pipe) but not the thread. Its SIGTERM must wake a watcher of its own, never the worker's.
    code = """
    import multiprocessing, os, signal, sys, threading, time, analytics_sdk

    def worker(host):
        parent = analytics_sdk.Client("k", host=host)  # handler and watcher in the worker
        parent.track("u", "Parent")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            client = analytics_sdk.Client("k", host=host, upload_size=1000, upload_interval=60, exit_timeout=20)
            for i in range(200):
                client.track("u", "Child", {"i": i})
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # its handler cannot run (see _WORKER below)
            os.write(write_end, b"x")
            never = threading.Lock()
            never.acquire()
            never.acquire()
            os._exit(0)
        os.read(read_end, 1)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        time.sleep(1.5)  # past SIGTERM_GRACE: the worker's watcher, woken by mistake, would have acted
        print("child", os.waitstatus_to_exitcode(status), "worker alive", parent.flush(timeout=5), flush=True)

    if __name__ == "__main__":
        multiprocessing.set_start_method("fork")
        proc = multiprocessing.Process(target=worker, args=(sys.argv[1],))
        proc.start()
        proc.join(40)
        print("worker exitcode", proc.exitcode, flush=True)
    """
    with Collector() as collector:
        proc = _start(code, collector.url)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.split() == ["child", str(128 + signal.SIGTERM), "worker", "alive", "True", "worker", "exitcode", "0"], (out, err)
        events = collector.events()
        assert sum(e["event"] == "Child" for e in events) == 200 and sum(e["event"] == "Parent" for e in events) == 1


def test_sigterm_while_exit_waits_for_a_child_process_still_delivers():
    # Interpreter exit joins a non-daemon Process (multiprocessing's exit function,
    # which runs before ours when multiprocessing was imported after the SDK). A
    # SIGTERM then must still lead to the SDK's delivery, as it always did.
    code = """
    import sys, time, analytics_sdk
    import multiprocessing

    def work():
        for fd in (1, 2):  # let the test read our parent's output to its end
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
        time.sleep(30)

    if __name__ == "__main__":
        client = analytics_sdk.Client("k", host=sys.argv[1], upload_size=1000, upload_interval=60, exit_timeout=5)
        for i in range(300):
            client.track("u", "Queued", {"i": i})
        multiprocessing.set_start_method("fork")
        child = multiprocessing.Process(target=work)
        child.start()
        print("ready", child.pid, flush=True)  # the main code ends here: exit waits for the child
    """
    with Collector() as collector:
        proc = _start(code.replace("import sys,", "import os, sys,"), collector.url)
        ready, child_pid = proc.stdout.readline().split()
        time.sleep(0.5)  # inside the exit function's join
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        finally:
            os.kill(int(child_pid), signal.SIGKILL)
        summary = collector.summary()
        assert summary["stored"] == 300 and summary["duplicates"] == 0, (summary, proc.returncode, err)


_WORKER = """
    import multiprocessing, os, signal, sys, threading, analytics_sdk

    HOST = os.environ["COLLECTOR_URL"]

    def make_client():
        return analytics_sdk.Client("k", host=HOST, upload_size=1000, upload_interval=60, exit_timeout=20)

    client = make_client() if {module_level} else None

    def worker(ready, stuck):
        global client
        if client is None:
            client = make_client()  # made in the worker itself
        for i in range(300):  # all still queued: a full request is 1,000 events, the wait a minute
            client.track("u", "Worker", {{"i": i}})
        if not stuck:
            return  # a normal exit: the exit finalizer delivers
        # The race, made certain: the main thread blocks SIGTERM, so CPython's C handler
        # runs on another thread and the main thread, held in a C-level lock wait, never
        # sees EINTR: the Python handler cannot run. (In the wild: a SIGTERM landing just
        # as a Pool worker enters its semaphore wait for the next task.)
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}})
        ready.set()
        never = threading.Lock()
        never.acquire()
        never.acquire()

    if __name__ == "__main__":
        multiprocessing.set_start_method("{method}")
        ready = multiprocessing.Event()
        proc = multiprocessing.Process(target=worker, args=(ready, {stuck}))
        proc.start()
        if {stuck}:
            ready.wait(30)
            proc.terminate()
        proc.join(30)
        print("exitcode", proc.exitcode, flush=True)
        if proc.exitcode is None:
            proc.kill()
        os._exit(0)  # the parent's own (empty) client has nothing to say
"""


@pytest.mark.parametrize(
    "method, module_level, stuck, exitcode",
    [
        # SIGTERM whose handler cannot run (terminate() of a stuck worker): the watcher
        # delivers and ends the worker (before: exit code None, the worker alive).
        ("fork", False, True, 128 + signal.SIGTERM),
        ("spawn", False, True, 128 + signal.SIGTERM),
        ("fork", True, True, 128 + signal.SIGTERM),  # the worker uses the client the parent made
        ("spawn", True, True, 128 + signal.SIGTERM),  # the worker rebuilt it while importing the main module
        ("forkserver", True, True, 128 + signal.SIGTERM),
        # A normal exit ends with os._exit(): only the exit finalizer can deliver.
        ("forkserver", True, False, 0),
        ("spawn", True, False, 0),
    ],
)
def test_workers_deliver_at_terminate_and_at_exit(method, module_level, stuck, exitcode, tmp_path):
    script = tmp_path / "worker.py"  # a file: spawn imports the worker from it
    script.write_text(textwrap.dedent(_WORKER.format(method=method, module_level=module_level, stuck=stuck)))
    with Collector() as collector:
        env = dict(os.environ, COLLECTOR_URL=collector.url)
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        assert out.split() == ["exitcode", str(exitcode)], (out, err)
        summary = collector.summary()
        assert summary["stored"] == 300 and summary["duplicates"] == 0, summary


# A server that owns SIGTERM, the way uvicorn does it: its handler is in place before
# the application's client exists; it shuts down gracefully, restores the default
# disposition and re-raises SIGTERM on the main thread, which used to end the process
# without any exit hook (issue 21, item 3). tests/hosts/test_uvicorn.py runs the real one.
_RERAISING_SERVER = """
    import os, signal, sys, time, analytics_sdk
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))  # the server's handler
    client = analytics_sdk.Client("k", host=sys.argv[1], upload_size=1000, upload_interval=60, exit_timeout=20)
    for i in range(300):
        client.track("u", "Queued", {{"i": i}})
    print("ready", flush=True)
    while not stop:
        time.sleep(0.01)
    {after_stop}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the disposition the server found
    signal.raise_signal(signal.SIGTERM)  # "end as SIGTERM would"
    {after_reraise}
"""


@pytest.mark.parametrize(
    "after_reraise",
    [
        "",  # the script returns: the exit path delivers, then the held SIGTERM ends the process
        "time.sleep(60); print('not ended', flush=True)",  # it does not: the SDK's watcher delivers and ends it
    ],
)
def test_a_server_that_restores_the_default_and_reraises_sigterm_still_delivers(after_reraise):
    if after_reraise and not os.path.exists("/proc/self/task"):
        pytest.skip("the watcher reads /proc")
    code = textwrap.dedent(_RERAISING_SERVER.format(after_stop="", after_reraise=after_reraise))
    with Collector() as collector:
        proc = _start(code, collector.url)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGTERM and "not ended" not in out, (proc.returncode, out, err)  # as the server meant
        summary = collector.summary()
        assert summary["stored"] == 300 and summary["duplicates"] == 0, summary


def test_a_fork_child_of_a_process_holding_sigterm_can_be_terminated():
    # The held SIGTERM is blocked on the main thread; a child forked from it must not inherit that.
    code = textwrap.dedent(_RERAISING_SERVER.format(
        after_stop="""ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a child of its own (as after exec)
        os.write(ready_w, b"x")
        time.sleep(20)
        os._exit(0)
    os.read(ready_r, 1)
    os.kill(pid, signal.SIGTERM)
    print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)""",
        after_reraise="",
    ))
    with Collector() as collector:
        proc = _start(code, collector.url)
        assert proc.stdout.readline().startswith("ready")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert out.split() == ["child", str(-signal.SIGTERM)], (out, err)
        assert proc.returncode == -signal.SIGTERM and collector.summary()["stored"] == 300


def test_a_client_made_off_the_main_thread_still_delivers_at_sigterm():
    # Only the main thread may set a signal handler: a lazy client made in a thread pool
    # (a sync endpoint's) used to leave SIGTERM's default, which loses what is queued.
    code = """
    import sys, threading, time, analytics_sdk
    def make():
        global client
        client = analytics_sdk.Client("k", host=sys.argv[1], upload_size=1000, upload_interval=60, exit_timeout=20)
        for i in range(300):
            client.track("u", "Queued", {"i": i})
    worker = threading.Thread(target=make)
    worker.start()
    worker.join()
    print("ready", flush=True)
    time.sleep(60)
    """
    with Collector() as collector:
        proc = _start(code, collector.url)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err)
        assert collector.summary()["stored"] == 300
