"""The analytics-sdk command as a person reads it: every format's rows, the newest rows first
shown (like tail), the send progress line on a real terminal (a pseudo-terminal), flags named."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from typing import List

import pytest

from analytics_sdk import Client
from analytics_sdk.wire import Amplitude, MParticle, Segment
from analytics_sdk.devserver import Collector

from .test_cli import CLI, run


def cells(line: str) -> List[str]:
    """A table row split on its two-space gaps: received, type, user, what, format, id."""
    return [cell.strip() for cell in re.split(r"\s{2,}", line.strip())]


def test_every_format_reads_like_segment(collector):
    client = Client(destinations=[
        Segment("k", host=collector.url),
        Amplitude("amp-key", server_url=collector.url + "/2/httpapi"),
        MParticle("mp-key", "mp-secret", environment="development", host=collector.url),
    ])
    client.track("user-9", "Order Completed", {"order_id": "o-9", "revenue": 42.0,
                                               "products": [{"product_id": "tee", "price": 21.0, "quantity": 2}]})
    client.track("user-9", "Clicked Buy", message_id="m-click")
    assert client.flush(timeout=10)
    client.shutdown(timeout=5)
    device_only = {"api_key": "amp-key", "events": [{"event_type": "Opened", "device_id": "device-0042", "insert_id": "i-1"}]}
    import requests

    assert requests.post(collector.url + "/2/httpapi", json=device_only, timeout=5).status_code == 200

    table = run("events", "--url", collector.url)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert cells(header)[1:] == ["type", "user", "what", "format", "id"]
    rows = {(r[4], r[3]): r for r in map(cells, lines)}
    assert len(rows) == 7, table.stdout
    for fmt in ("segment", "amplitude", "mparticle"):
        clicked = rows[(fmt, "Clicked Buy")]
        assert clicked[2] == "user-9" and clicked[5] == "m-click", clicked  # user and id, whatever the format
    assert rows[("segment", "Order Completed")][1] == "track"
    assert rows[("amplitude", "Order Completed")][1] == "track"
    assert rows[("mparticle", "Clicked Buy")][1] == "custom_event"
    assert rows[("mparticle", "purchase")][1] == "commerce_event"  # mParticle's product action
    assert rows[("amplitude", "Opened")][2:] == ["(device) device-0042", "Opened", "amplitude", "i-1"]
    assert "None" not in table.stdout

    for_user = run("events", "--url", collector.url, "--user", "user-9")
    assert len(for_user.stdout.splitlines()) == 1 + 6  # user-9's rows in all three formats
    by_device = run("events", "--url", collector.url, "--user", "device-0042")
    assert [cells(line)[3] for line in by_device.stdout.splitlines()[1:]] == ["Opened"]
    typed = run("events", "--url", collector.url, "--type", "custom_event")
    assert [cells(line)[3] for line in typed.stdout.splitlines()[1:]] == ["Clicked Buy"]


def _store_numbered(collector, count: int) -> None:
    client = Client("k", host=collector.url, upload_size=count)
    for i in range(count):
        client.track("u1", f"E{i:02d}", message_id=f"m{i:02d}")
        assert client.flush(timeout=10)  # one request each: received (and numbered) in this order
    client.shutdown(timeout=5)


@pytest.mark.parametrize("source", ["url", "db"])
def test_events_shows_the_newest_rows_and_how_many_more(tmp_path, source):
    db = str(tmp_path / "events.db")
    with Collector(db=db) as collector:
        _store_numbered(collector, 25)
        where = ["--url", collector.url] if source == "url" else ["--db", db]
        table = run("events", *where)
        header, *lines = table.stdout.splitlines()
        assert [cells(line)[3] for line in lines[:-1]] == [f"E{i:02d}" for i in range(5, 25)]  # newest 20, in order
        assert lines[-1] == "(5 older matching messages not shown; --limit N shows the newest N)"
        three = run("events", *where, "--limit", "3")
        assert [cells(line)[3] for line in three.stdout.splitlines()[1:-1]] == ["E22", "E23", "E24"]
        assert "22 older matching messages" in three.stdout.splitlines()[-1]
        everything = run("events", *where, "--limit", "25")
        assert len(everything.stdout.splitlines()) == 26 and "older" not in everything.stdout
        exported = run("events", *where, "--json")  # scripts get every match
        assert len(exported.stdout.splitlines()) == 25 and exported.stderr == ""
        newest = run("events", *where, "--json", "--limit", "2")
        assert [json.loads(line)["event"] for line in newest.stdout.splitlines()] == ["E23", "E24"]
        assert "23 older matching messages" in newest.stderr  # not in the NDJSON
        bad = run("events", *where, "--limit", "0")
        assert bad.returncode == 2 and "--limit must be at least 1" in bad.stderr


def screen(raw: bytes) -> List[str]:
    """What a terminal shows after ``raw``: carriage returns, erase-line and newlines applied."""
    lines, line, col = [], "", 0
    for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|\r|\n|[^\x1b\r\n]+", raw.decode("utf-8", "replace")):
        if token == "\r":
            col = 0
        elif token == "\n":
            lines.append(line)
            line, col = "", 0
        elif token.startswith("\x1b["):
            if token[-1] == "K":
                line = line[:col] if token in ("\x1b[K", "\x1b[0K") else ""
        else:
            line = line[:col] + token + line[col + len(token):]
            col += len(token)
    return lines + ([line] if line else [])


def test_send_on_a_terminal_keeps_progress_and_errors_on_their_own_lines(collector, tmp_path):
    path = tmp_path / "mixed.ndjson"
    good = [json.dumps({"type": "track", "userId": "u", "event": "E", "messageId": f"g{i}"}) for i in range(40)]
    path.write_text("\n".join(good[:2] + ["{not json"] + good[2:20] + ['{"type": "track", "userId": "u"}'] + good[20:]) + "\n")
    main, child = pty.openpty()  # stderr is a terminal: the progress line is on by default
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    process = subprocess.Popen(CLI + ["send", str(path), "--write-key", "k", "--host", collector.url],
                               stdout=subprocess.PIPE, stderr=child, env=env)
    os.close(child)
    raw = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        raw += chunk
    os.close(main)
    summary = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 1  # two invalid lines
    shown = screen(raw)
    errors = [line for line in shown if line.startswith("analytics-sdk:")]
    assert errors == [
        "analytics-sdk: line 3: not valid JSON: Expecting property name enclosed in double quotes at column 2",
        "analytics-sdk: line 22: event must be a non-empty string, got null (or nothing)",
    ], shown
    assert all(line.count("line ") == 1 for line in errors), errors  # the file's line number only
    progress = [line for line in shown if " read · " in line]
    assert progress and all(not line.startswith("analytics-sdk") and "analytics-sdk" not in line for line in progress), shown
    assert re.fullmatch(r"42 read · 40 delivered · [\d,]+/s · 2 invalid · 0 not delivered", progress[-1]), shown
    assert "failed" not in raw.decode() and "invalid" in summary  # one word for one thing
    assert "42 messages read: 40 delivered, 2 invalid, 0 not delivered" in summary


@pytest.mark.parametrize(
    "args, flag",
    [
        (["track", "--user-id", "u"], "track needs --event"),
        (["group", "--user-id", "u"], "group needs --group-id"),
        (["alias", "--user-id", "u"], "alias needs --previous-id"),
        (["track", "--event", "E", "--user-id", "u", "--timestamp", "yesterday"], "--timestamp is not an ISO-8601"),
    ],
)
def test_a_missing_or_bad_flag_is_named(args, flag):
    result = run(*args, "--write-key", "k", "--host", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.startswith(f"analytics-sdk: error: {flag}"), result.stderr
    assert "NoneType" not in result.stderr and len(result.stderr.splitlines()) == 1
