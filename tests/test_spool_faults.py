"""The spool under faults (issue 10): full disk, a lost spool directory, SQLite
errors that pass, and a restart that gets the same pid.

Real processes, real files, a real collector on 127.0.0.1. A full disk is a
small tmpfs when we are root (CI) and a file-size limit (RLIMIT_FSIZE, SIGXFSZ
ignored) otherwise, so the scenarios run in a subprocess that fills its disk
itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from analytics_sdk import Client

# Prepended to every scenario: fill_disk()/free_disk() for the mode the test chose.
DISK = """
import os, resource, signal

def fill_disk(directory, mode):
    if mode == "rlimit":  # every write past the first byte of any file fails (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        return
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as filler:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    filler.write(b"\\0" * size)
            except OSError:
                pass

def free_disk(directory, mode):
    if mode == "rlimit":
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    else:
        os.remove(os.path.join(directory, "filler"))
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Tuple[str, str]]:
    """(directory, mode): a 2 MB tmpfs as root, else a plain directory and RLIMIT_FSIZE."""
    directory = tmp_path / "disk"
    directory.mkdir()
    if os.geteuid() != 0:
        yield str(directory), "rlimit"
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {mounted.stderr.strip()}")
    try:
        yield str(directory), "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def run_scenario(body: str, *args: str, timeout: float = 60) -> dict:
    """Run DISK + ``body`` in a fresh interpreter; it prints one JSON line last."""
    result = subprocess.run(
        [sys.executable, "-c", DISK + textwrap.dedent(body), *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_each_once(expected: List[str], delivered: List[str], reported: List[str]) -> None:
    """Every message reached exactly one outcome: delivered once, or reported once."""
    counts = Counter(delivered) + Counter(reported)
    missing = [mid for mid in expected if counts[mid] == 0]
    twice = [mid for mid in expected if counts[mid] > 1]
    assert not missing, f"{len(missing)} neither delivered nor reported, e.g. {missing[:3]}"
    assert not twice, f"{len(twice)} delivered or reported twice, e.g. {twice[:3]}"


# -- 1. full disk: the caller's thread never sends, never sleeps ----------------------------

FULL_DISK = """
import json, sys, threading
import analytics_sdk

host, directory, mode, sync = sys.argv[1:5]
reported = []
client = analytics_sdk.Client(
    "k", host=host, spool_path=os.path.join(directory, "spool.db"), spool_sync=sync == "sync",
    max_queue_size=20, upload_interval=0.05,
    on_error=lambda error, messages: reported.extend([error.reason, m["messageId"]] for m in messages),
)
# Which threads make requests: the caller's must never be one of them.
transport = client._routes[0].consumer.transport
send, senders = transport.send_parts, []
def recording_send(*args, **kwargs):
    senders.append(threading.get_ident())
    return send(*args, **kwargs)
transport.send_parts = recording_send

assert client.track("u", "Before", message_id="before")[0] and client.flush(timeout=10)
fill_disk(directory, mode)
caller = threading.get_ident()
accepted = [f"full-{i}" for i in range(300) if client.track("u", "Full", {"i": i}, message_id=f"full-{i}")[0]]
on_caller = senders.count(caller)
flushed = client.flush(timeout=20)
print(json.dumps({"on_caller": on_caller, "accepted": accepted, "reported": reported, "flushed": flushed}))
"""


@pytest.mark.parametrize("sync", ["async", "sync"])
def test_full_disk_never_sends_on_the_callers_thread(small_disk, collector, sync):
    directory, mode = small_disk
    out = run_scenario(FULL_DISK, collector.url, directory, mode, sync)
    assert out["on_caller"] == 0  # no request (and so no retry sleep) on the caller's thread
    expected = [f"full-{i}" for i in range(300)]
    delivered = [e["messageId"] for e in collector.events() if e["event"] == "Full"]
    reported = [mid for _, mid in out["reported"]]
    assert_each_once(expected, delivered, reported)
    refused = set(expected) - set(out["accepted"])
    assert {reason for reason, mid in out["reported"] if mid in refused} <= {"spool_unavailable"}
    assert out["flushed"]
    if sync == "sync":  # spool_sync promises what it accepted is on disk: so it accepts nothing
        assert not out["accepted"] and len(refused) == 300


# -- 2. the spool directory is gone, then the process forks ------------------------------


@pytest.mark.parametrize("sync", ["async", "sync"])
def test_lost_spool_directory_then_fork_loses_nothing_unreported(tmp_path, collector, sync):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    result_file = tmp_path / "child.json"
    reported: List[List[str]] = []
    client = Client(
        "k", host=collector.url, spool_path=str(spool_dir / "s.db"), spool_sync=sync == "sync", upload_interval=0.05,
        on_error=lambda error, messages: reported.extend([error.reason, m["messageId"]] for m in messages),
    )
    assert client.track("parent", "Before")[0] and client.flush(timeout=10)
    shutil.rmtree(spool_dir)
    pid = os.fork()
    if pid == 0:  # the child opens its own connection, and the directory is gone
        code = 1
        try:
            out: dict = {"raised": None, "flushed": False}
            try:
                for i in range(300):
                    client.track("child", "After", {"i": i}, message_id=f"child-{i}")
                out["flushed"] = client.flush(timeout=20)
            except BaseException as exc:  # noqa: BLE001 - what escaped into the application
                out["raised"] = repr(exc)
            out["reported"] = reported
            result_file.write_text(json.dumps(out))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    out = json.loads(result_file.read_text())
    assert out["raised"] is None
    delivered = [e["messageId"] for e in collector.events() if e["userId"] == "child"]
    assert_each_once([f"child-{i}" for i in range(300)], delivered, [mid for _, mid in out["reported"]])
    assert out["flushed"]
    assert client.flush(timeout=5)  # the parent goes on, on its open (deleted) file
    client.shutdown(timeout=2)


# -- 3. a transient SQLite error does not end delivery ------------------------------------------

TRANSIENT = """
import json, sys, time
import analytics_sdk

host, directory, mode = sys.argv[1:4]
reported = []
client = analytics_sdk.Client(
    "k", host=host, spool_path=os.path.join(directory, "spool.db"), upload_interval=30,  # linger: rows wait on disk
    on_error=lambda error, messages: reported.extend([error.reason, m["messageId"]] for m in messages),
)
for i in range(20):
    client.track("u", "Early", {"i": i}, message_id=f"early-{i}")
while client.stats()["spool_depth"] < 20:
    time.sleep(0.01)
fill_disk(directory, mode)
during = client.flush(timeout=1)   # the uploader now claims rows: SQLite cannot write
free_disk(directory, mode)
for i in range(100):
    client.track("u", "Late", {"i": i}, message_id=f"late-{i}")
flushed = client.flush(timeout=20)
print(json.dumps({"during": during, "flushed": flushed, "reported": reported}))
"""


def test_a_passing_sqlite_error_does_not_end_delivery(small_disk, collector):
    directory, mode = small_disk
    out = run_scenario(TRANSIENT, collector.url, directory, mode)
    expected = [f"early-{i}" for i in range(20)] + [f"late-{i}" for i in range(100)]
    delivered = [e["messageId"] for e in collector.events()]
    assert_each_once(expected, delivered, [mid for _, mid in out["reported"]])
    assert out["flushed"] and not out["reported"]  # the disk came back: everything delivered


# -- 4. a restart with the same pid adopts what its predecessor claimed ----------------------------

CLAIM_AND_WAIT = """
import os, sys, time, analytics_sdk
assert os.getpid() == 1, os.getpid()
# One batch of exactly 50: the consumer claims when the 50th row is stored, however slow the
# machine (a short upload_interval let it claim the first few rows alone under load).
client = analytics_sdk.Client("k", host=sys.argv[1], spool_path=sys.argv[2], timeout=60, upload_size=50,
                              upload_interval=60)
for i in range(50):
    client.track("u", "Claimed", {"i": i}, message_id=f"claimed-{i}")
print("ready", flush=True)
time.sleep(60)
"""

RESTART = """
import os, sys, analytics_sdk
assert os.getpid() == 1, os.getpid()
client = analytics_sdk.Client("k", host=sys.argv[1], spool_path=sys.argv[2])
print(client.flush(timeout=15), flush=True)
"""


def claimed_rows(path: str) -> int:
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM spool WHERE claimed = 1").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0


def pid_namespace(body: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-c", textwrap.dedent(body), *args], text=True, **popen
    )


def test_restart_as_the_same_pid_resends_what_the_crashed_process_claimed(tmp_path, collector):
    if os.geteuid() != 0:
        pytest.skip("a PID namespace needs root (test_rows_of_a_predecessor_with_our_pid_are_adopted simulates it)")
    if subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --pid is not available here")
    path = str(tmp_path / "spool.db")
    with socket.socket() as silent:  # accepts connections, never answers: the batch stays claimed
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        first = pid_namespace(CLAIM_AND_WAIT, host, path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert first.stdout.readline().strip() == "ready", first.stderr.read()
            deadline = time.monotonic() + 20
            while claimed_rows(path) < 50 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert claimed_rows(path) == 50
            # SIGKILL the namespace's PID 1 (the Python process), as a container runtime would.
            children = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()
            os.kill(int(children[0]), signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
            first.stdout.close(), first.stderr.close()  # (python -X dev: no pipe left to the garbage collector)
    second = pid_namespace(RESTART, collector.url, path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert out.split() == ["True"]
    assert sorted(e["messageId"] for e in collector.events()) == sorted(f"claimed-{i}" for i in range(50))


def test_rows_of_a_predecessor_with_our_pid_are_adopted(tmp_path, collector):
    """What a previous process with this pid left (claimed, mid-send) is resent."""
    path = str(tmp_path / "spool.db")
    Client("k", host="http://127.0.0.1:9", spool_path=path, upload_interval=30).shutdown(timeout=0.1)  # create the file
    host = socket.gethostname()
    owners = [
        f"{os.getpid()}@{host}",  # how a predecessor with our pid wrote rows before ownership had a token
        f"{os.getpid()}@{host}#0:feedface",  # ... and with one (another start time, another token)
    ]
    with sqlite3.connect(path) as db:
        for n, owner in enumerate(owners):
            for i in range(10):
                body = json.dumps({"type": "track", "userId": "u", "event": "Left", "messageId": f"left-{n}-{i}"})
                db.execute("INSERT INTO spool (owner, claimed, body) VALUES (?, 1, ?)", (owner, body.encode()))
    client = Client("k", host=collector.url, spool_path=path)
    assert client.flush(timeout=10)
    assert sorted(e["messageId"] for e in collector.events()) == sorted(f"left-{n}-{i}" for n in range(2) for i in range(10))
    client.shutdown(timeout=2)


def test_ownership_tells_incarnations_apart():
    """Pure rule behind adoption: same pid and host, other incarnation -> ours to take;
    a live process -> never, unless its pid now belongs to a process started later."""
    from analytics_sdk.delivery.spool import _orphaned, _start_time, owner_id

    me = owner_id()
    host = socket.gethostname()
    parent = os.getppid()
    assert not _orphaned(me, me)
    assert _orphaned(f"{os.getpid()}@{host}#0:feedface", me)  # our pid, another token: a predecessor
    assert not _orphaned(f"{parent}@{host}#{_start_time(parent)}:feedface", me)  # alive: its rows
    assert not _orphaned(f"{parent}@{host}", me)  # alive, old format: cannot tell, so not ours
    if _start_time(parent):
        assert _orphaned(f"{parent}@{host}#1:feedface", me)  # the pid was reused by a later process
    assert not _orphaned(f"{os.getpid()}@another-host#0:feedface", me)  # another host: never


# -- 5. the spool stays down: uploaders send the write buffer from memory -----------------


def test_a_spool_that_stays_down_is_bypassed_from_memory_without_refusals(tmp_path, collector, monkeypatch, caplog):
    from analytics_sdk.delivery.spool import Spool

    def disk_full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    reported: Counter = Counter()
    client = Client(
        "k", host=collector.url, spool_path=str(tmp_path / "spool.db"), upload_interval=0.05, max_queue_size=200,
        on_error=lambda error, messages: reported.update([error.reason] * len(messages)),
    )
    monkeypatch.setattr(Spool, "append", disk_full)
    calls = refused = 0
    started = time.monotonic()
    while time.monotonic() - started < 2.0:  # a steady caller, faster than the writer's disk retries alone
        refused += not client.track("u", "E", {"i": calls})[0]
        calls += 1
        time.sleep(0.0005)
    assert client.flush(timeout=20)
    client.shutdown(timeout=5)
    assert not [r for r in caplog.records if "unexpected error in the uploader" in r.getMessage()]
    assert refused == 0 and not reported
    assert len(collector.events()) == calls
