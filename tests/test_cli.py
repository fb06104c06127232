"""The analytics-sdk command, run as a subprocess against a real local collector."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from analytics_sdk.devtools.cli import parse_since
from analytics_sdk.devserver import Collector

CLI = [sys.executable, "-m", "analytics_sdk"]


def run(*args, env=None, stdin=None, timeout=60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    full_env.update(env or {})
    return subprocess.run(
        CLI + list(args), capture_output=True, text=True, env=full_env, input=stdin, timeout=timeout
    )


def test_track_prints_the_message_id_and_delivers(collector):
    result = run(
        "track", "--user-id", "u1", "--event", "Signed Up", "--properties", '{"plan": "pro"}',
        "--write-key", "k", "--host", collector.url,
    )
    assert result.returncode == 0, result.stderr
    message_id, outcome = result.stdout.split()
    assert outcome == "delivered"
    stored = collector.events()
    assert [(e["messageId"], e["event"], e["properties"]) for e in stored] == [(message_id, "Signed Up", {"plan": "pro"})]


@pytest.mark.parametrize(
    "args, field, value",
    [
        (["identify", "--user-id", "u1", "--traits", '{"email": "a@b.c"}'], "traits", {"email": "a@b.c"}),
        (["page", "--user-id", "u1", "--category", "Docs", "--name", "Intro"], "name", "Intro"),
        (["screen", "--anonymous-id", "a1", "--name", "Home"], "anonymousId", "a1"),
        (["group", "--user-id", "u1", "--group-id", "acme"], "groupId", "acme"),
        (["alias", "--previous-id", "anon-7", "--user-id", "u1"], "previousId", "anon-7"),
    ],
)
def test_every_call_type(collector, args, field, value):
    result = run(*args, env={"ANALYTICS_WRITE_KEY": "k", "ANALYTICS_HOST": collector.url})
    assert result.returncode == 0, result.stderr
    assert collector.events()[0][field] == value


def test_delivery_failure_exits_non_zero(faulty_collector):
    server = faulty_collector(poison="BAD")
    result = run("track", "--user-id", "u", "--event", "BAD", "--write-key", "k", "--host", server.url)
    assert result.returncode == 1
    assert "NOT delivered" in result.stdout and "invalid" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["track", "--user-id", "u", "--event", "E", "--host", "http://127.0.0.1:9"], "write key is required"),
        (["track", "--event", "E", "--write-key", "k", "--host", "http://127.0.0.1:9"], "--user-id or --anonymous-id"),
        (["track", "--user-id", "u", "--event", "E", "--properties", "{oops", "--write-key", "k"], "--properties is not valid JSON"),
        (["send", "/no/such/file.ndjson", "--write-key", "k", "--host", "http://127.0.0.1:9"], "cannot read /no/such/file.ndjson"),
        (["events", "--url", "http://127.0.0.1:9"], "cannot reach a collector"),
        (["events", "--since", "yesterday", "--url", "http://127.0.0.1:9"], "--since"),
    ],
)
def test_errors_are_one_clear_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("analytics-sdk: error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["track", "identify", "page", "screen", "group", "alias", "send", "serve", "events"])
def test_help_on_every_command_has_examples(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout


def test_send_streams_ndjson_with_a_summary(collector, tmp_path):
    path = tmp_path / "backfill.ndjson"
    lines = [json.dumps({"type": "track", "userId": f"u{i}", "event": "Backfilled", "messageId": f"m{i}", "properties": {"i": i}}) for i in range(3000)]
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({"type": "track", "userId": "u"}))  # no event
    lines.append(json.dumps({"type": "identify", "userId": "u1", "traits": {"a": 1}, "sentAt": "ignored"}))
    path.write_text("\n".join(lines) + "\n")
    result = run("send", str(path), "--write-key", "k", "--host", collector.url)
    assert result.returncode == 1  # two invalid lines
    assert "3,003 messages read: 3,001 delivered, 2 invalid, 0 not delivered" in result.stdout
    assert "line 11:" in result.stderr and "line 21:" in result.stderr and "event" in result.stderr
    stored = collector.summary()
    assert stored["stored"] == 3001 and stored["duplicates"] == 0
    assert collector.events(user_id="u42")[0]["messageId"] == "m42"  # messageIds kept: re-runs are deduplicated


def test_send_from_stdin_exits_zero_when_all_delivered(collector):
    data = "\n".join(json.dumps({"type": "page", "userId": "u", "name": f"p{i}"}) for i in range(50))
    result = run("send", "-", "--write-key", "k", "--host", collector.url, stdin=data)
    assert result.returncode == 0, result.stderr
    assert collector.summary()["stored"] == 50


def test_send_progress_line(collector):
    data = "\n".join(json.dumps({"type": "track", "userId": "u", "event": "E"}) for _ in range(20))
    result = run("send", "-", "--progress", "--write-key", "k", "--host", collector.url, stdin=data)
    assert re.search(r"20 read · 20 delivered · [\d,]+/s · 0 invalid · 0 not delivered", result.stderr), result.stderr


# The child's own peak RSS. Not ru_maxrss: Linux carries that over from the parent across
# fork()/exec(), so it would measure the test process (the collector's store grows with it).
PEAK_RSS_KB = "next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads peak RSS from /proc")
def test_send_streams_in_bounded_memory(collector, tmp_path):
    path = tmp_path / "big.ndjson"
    line = json.dumps({"type": "track", "userId": "u", "event": "Bulk", "properties": {"pad": "x" * 400}})
    with open(path, "w") as out:
        for _ in range(60_000):
            out.write(line + "\n")

    def peak_rss_mb(*argv: str) -> float:
        code = (
            "import sys; from analytics_sdk.devtools.cli import main\n"
            "status = main(sys.argv[1:]) if sys.argv[1:] else 0\n"
            f"print('peak_kb', {PEAK_RSS_KB}); sys.exit(status)\n"
        )
        result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split("peak_kb")[1]) / 1024

    imported_mb = peak_rss_mb()
    sending_mb = peak_rss_mb("send", str(path), "--write-key", "k", "--host", collector.url)
    file_mb = path.stat().st_size / 2**20
    # The queue holds at most 10,000 messages (~5 MB here): sending a 27 MB file must not
    # cost anything near the file's size.
    assert file_mb > 25 and sending_mb - imported_mb < file_mb / 2, (file_mb, imported_mb, sending_mb)
    assert collector.summary()["stored"] == 60_000


def test_events_reads_back_with_filters_and_json(collector):
    env = {"ANALYTICS_WRITE_KEY": "k", "ANALYTICS_HOST": collector.url}
    run("track", "--user-id", "u1", "--event", "A", env=env)
    run("track", "--user-id", "u2", "--event", "B", env=env)
    run("identify", "--user-id", "u1", "--traits", '{"email": "x@y.z"}', env=env)
    table = run("events", "--url", collector.url)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:4] == ["received", "type", "user", "what"]
    assert len(table.stdout.splitlines()) == 4
    only = run("events", "--url", collector.url, "--type", "track", "--user", "u2", "--json")
    assert [json.loads(line)["event"] for line in only.stdout.splitlines()] == ["B"]
    recent = run("events", "--url", collector.url, "--since", "1h", "--event", "A")
    assert "A" in recent.stdout and len(recent.stdout.splitlines()) == 2


def test_events_json_round_trips_into_send(collector, tmp_path):
    env = {"ANALYTICS_WRITE_KEY": "k", "ANALYTICS_HOST": collector.url}
    run("track", "--user-id", "u1", "--event", "Copied", env=env)
    exported = run("events", "--url", collector.url, "--json").stdout
    with Collector() as second:
        result = run("send", "-", "--write-key", "k", "--host", second.url, stdin=exported)
        assert result.returncode == 0, result.stderr
        assert [e["messageId"] for e in second.events()] == [e["messageId"] for e in collector.events()]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_serve_then_events_from_the_database(tmp_path):
    db = tmp_path / "events.db"
    # (SIGINT's default restored: a shell without job control starts background jobs ignoring it)
    server = subprocess.Popen(CLI + ["serve", "--port", "0", "--db", str(db)], stdout=subprocess.PIPE, text=True,
                              preexec_fn=_default_sigint)
    try:
        url = server.stdout.readline().split(" listening on ")[1].split()[0]
        sent = run("track", "--user-id", "u1", "--event", "Served", "--write-key", "k", "--host", url)
        assert sent.returncode == 0, sent.stderr
        follow = subprocess.Popen(CLI + ["events", "--url", url, "--follow", "--json"], stdout=subprocess.PIPE, text=True,
                                  preexec_fn=_default_sigint)
        try:
            assert json.loads(follow.stdout.readline())["event"] == "Served"
            run("track", "--user-id", "u1", "--event", "Later", "--write-key", "k", "--host", url)
            assert json.loads(follow.stdout.readline())["event"] == "Later"  # --follow tails new messages
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(30)
            follow.stdout.close()  # (python -X dev: no pipe left to the garbage collector)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        server.stdout.close()
    from_db = run("events", "--db", str(db), "--json")
    assert [json.loads(line)["event"] for line in from_db.stdout.splitlines()] == ["Served", "Later"]


def test_parse_since():
    assert parse_since("10m", now=1000.0) == 400.0
    assert parse_since("2h", now=10_000.0) == 2800.0
    assert parse_since("2024-01-01T00:00:00Z") == 1704067200.0
    assert parse_since(None) is None


def test_send_reports_bad_lines_and_goes_on(collector, tmp_path):
    path = tmp_path / "mixed.ndjson"
    good = [json.dumps({"type": "track", "userId": "u", "event": "Kept", "messageId": f"k{i}"}).encode() for i in range(6)]
    nested = b'{"type": "track", "userId": "u", "event": "E", "properties": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    not_utf8 = b'{"type": "track", "userId": "\xff\xfe", "event": "E"}'
    path.write_bytes(b"\n".join(good[:2] + [nested] + good[2:4] + [not_utf8] + good[4:]) + b"\n")
    result = run("send", str(path), "--write-key", "k", "--host", collector.url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "line 3: nested too deeply" in result.stderr
    assert "line 6: not UTF-8 (byte 0xff at column 30)" in result.stderr
    assert "8 messages read: 6 delivered, 2 invalid, 0 not delivered" in result.stdout
    assert sorted(e["messageId"] for e in collector.events()) == [f"k{i}" for i in range(6)]


def test_events_table_shows_the_time_zone_and_traits_from_context(collector):
    env = {"ANALYTICS_WRITE_KEY": "k", "ANALYTICS_HOST": collector.url}
    import requests

    rudder_style = {"type": "identify", "userId": "u9", "messageId": "r1", "traits": {},
                    "context": {"traits": {"email": "a@b.c", "plan": "pro"}}}
    requests.post(collector.url + "/v1/batch", json={"batch": [rudder_style]}, auth=("k", ""), timeout=5)
    table = run("events", "--url", collector.url, env={**env, "TZ": "Asia/Tokyo"})
    row = table.stdout.splitlines()[1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0900  identify", row), row
    assert "email, plan" in row


def test_events_needs_the_key_of_a_protected_collector():
    with Collector(write_key="secret") as server:
        denied = run("events", "--url", server.url)
        assert denied.returncode == 2 and "needs its write key" in denied.stderr
        allowed = run("events", "--url", server.url, "--write-key", "secret")
        assert allowed.returncode == 0 and "(no matching messages)" in allowed.stdout
