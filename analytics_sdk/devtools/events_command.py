"""``analytics-sdk events``: read back what a local collector stored, like ``tail``.

The table shows the newest ``DEFAULT_LIMIT`` matching messages (oldest of them
first) and says how many older ones it left out; ``--limit N`` shows the newest
N. ``--json`` is for scripts (``events --json | analytics-sdk send -``): every
match unless ``--limit`` is given. Each format's rows read alike: type, user or
device, what happened, format and id, from the collector's summary of the message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional, TextIO, Tuple

from .collector import EventStore
from .collector.formats.segment import describe
from .since import SINCE_FORMS, parse_time
from .usage import UsageError

__all__ = ["run_events", "add_events_arguments", "format_row", "parse_since", "DEFAULT_LIMIT", "DEFAULT_EVENTS_URL"]

DEFAULT_LIMIT = 20
DEFAULT_EVENTS_URL = "http://127.0.0.1:8088"
HEADER = f"{'received':<25}  {'type':<14}  {'user':<20}  {'what':<28}  {'format':<9}  id"


def add_events_arguments(events: argparse.ArgumentParser) -> None:
    """The flags of ``analytics-sdk events``."""
    source = events.add_mutually_exclusive_group()
    source.add_argument("--url", default=None, help=f"collector URL (default: $ANALYTICS_HOST or {DEFAULT_EVENTS_URL})")
    source.add_argument("--db", help="read the collector's SQLite file directly")
    events.add_argument(
        "--write-key", default=os.environ.get("ANALYTICS_WRITE_KEY"),
        help="the collector's write key, if it was started with one (default: $ANALYTICS_WRITE_KEY)",
    )
    events.add_argument(
        "--type", metavar="TYPE",
        help="only this type: track, identify, page, screen, group, alias (mParticle: custom_event, commerce_event...)",
    )
    events.add_argument("--user", help="only this user id, anonymous id or device id")
    events.add_argument("--event", help="only this event name")
    events.add_argument("--since", help=f"only messages received since: {SINCE_FORMS}")
    events.add_argument(
        "--limit", type=int, metavar="N",
        help=f"the newest N (default: {DEFAULT_LIMIT} in the table, all with --json)",
    )
    events.add_argument("--follow", action="store_true", help="keep printing new messages as they arrive (Ctrl-C stops)")
    events.add_argument("--json", action="store_true", help="one JSON message per line (NDJSON), for scripts")


def parse_since(text: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Epoch seconds from an ISO-8601 time, epoch seconds or an age such as ``10m``."""
    if text is None:
        return None
    try:
        return parse_time(text, now)
    except ValueError:
        raise UsageError(f"--since takes {SINCE_FORMS}, got {text!r}") from None


def _filters(args: argparse.Namespace, since: Optional[float]) -> Dict[str, Any]:
    # --user matches a user id or a device/anonymous id, whatever the format calls them.
    return {"type": args.type, "user": args.user, "event": args.event, "since": since}


def _from_db(args: argparse.Namespace, filters: Dict[str, Any], after: int,
             limit: Optional[int]) -> Tuple[List[Dict[str, Any]], int]:
    if not os.path.exists(args.db):
        raise UsageError(f"no such collector database: {args.db}")
    store = EventStore(args.db)
    try:
        if limit is None:
            return store.query(after_seq=after, **filters), 0
        rows = store.query(after_seq=after, limit=limit, order="desc", **filters)
        more = store.count(after_seq=after, **filters) - len(rows) if len(rows) == limit else 0
        return rows[::-1], more
    finally:
        store.close()


def _from_url(args: argparse.Namespace, filters: Dict[str, Any], after: int,
              limit: Optional[int]) -> Tuple[List[Dict[str, Any]], int]:
    import requests

    url = (args.url or os.environ.get("ANALYTICS_HOST") or DEFAULT_EVENTS_URL).rstrip("/")
    params = {k: v for k, v in filters.items() if v is not None}
    params["after"] = after
    if limit is not None:
        params.update(limit=limit, order="desc")
    auth = (args.write_key, "") if args.write_key else None
    try:
        response = requests.get(url + "/v1/events", params=params, auth=auth, timeout=10)
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach a collector at {url} ({type(exc).__name__}); start one with 'analytics-sdk serve'") from None
    if response.status_code == 401:
        raise UsageError(f"{url} needs its write key to read: --write-key KEY or ANALYTICS_WRITE_KEY")
    if response.status_code == 400:
        raise UsageError(f"{url} refused the query: {response.json().get('error')}")
    if response.status_code != 200:
        raise UsageError(f"{url} answered HTTP {response.status_code}; is it an analytics-sdk collector?")
    page = response.json()
    rows = page["events"]
    return (rows[::-1], int(page.get("more") or 0)) if limit is not None else (rows, 0)


def format_row(message: Dict[str, Any]) -> str:
    """One table row. The collector's summary names type, user, device and id for every format;
    a database written before it had one falls back on the Segment fields."""
    received = message["_received"]
    # Local time with its UTC offset: a bare clock time is ambiguous across machines and DST.
    at = datetime.fromtimestamp(received["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    fmt = received.get("format") or "segment"
    kind = received.get("type") or message.get("type") or ""
    user = received.get("user_id") or (message.get("userId") if fmt == "segment" else None)
    device = received.get("anonymous_id") or (message.get("anonymousId") if fmt == "segment" else None)
    who = user or (f"({'anon' if fmt == 'segment' else 'device'}) {device}" if device else "(none)")
    what = received.get("what") or (describe(message) if fmt == "segment" else "")
    ident = received.get("key") or message.get("messageId") or ""
    return f"{at}  {kind:<14}  {who:<20}  {what:<28}  {fmt:<9}  {ident}"


def _print_rows(args: argparse.Namespace, rows: List[Dict[str, Any]], out: TextIO, header: bool) -> bool:
    """Print ``rows``; returns whether the table header has been printed."""
    for message in rows:
        if args.json:
            shown = {k: v for k, v in message.items() if k != "_received"}
            print(json.dumps(shown, separators=(",", ":")), file=out)
            continue
        if not header:
            print(HEADER, file=out)
            header = True
        print(format_row(message), file=out)
    return header


def run_events(args: argparse.Namespace, out: TextIO, err: TextIO = sys.stderr) -> int:
    since = parse_since(args.since)
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    limit = args.limit if args.limit is not None else (None if args.json else DEFAULT_LIMIT)
    fetch = _from_db if args.db else _from_url
    filters = _filters(args, since)
    rows, more = fetch(args, filters, 0, limit)
    header = _print_rows(args, rows, out, False)
    if more:
        note = f"({more:,} older matching message{'s' if more != 1 else ''} not shown; --limit N shows the newest N)"
        print(note, file=err if args.json else out)
    elif not rows and not args.json and not args.follow:
        print("(no matching messages)", file=out)
    after = max((m["_received"]["seq"] for m in rows), default=0)
    while args.follow:
        out.flush()
        time.sleep(0.5)
        rows, _ = fetch(args, filters, after, None)
        header = _print_rows(args, rows, out, header)
        after = max((m["_received"]["seq"] for m in rows), default=after)
    return 0
