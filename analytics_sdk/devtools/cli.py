"""The ``analytics-sdk`` command (also ``python -m analytics_sdk``).

    analytics-sdk track --user-id u1 --event "Signed Up" --properties '{"plan": "pro"}'
    analytics-sdk send events.ndjson            # backfill Segment-format NDJSON
    analytics-sdk serve --port 8088             # the local collector
    analytics-sdk events --type track --follow  # read back what it stored

Errors are one line on stderr. Exit status: 0 all delivered, 1 something was not
delivered, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from .. import messages
from ..client import Client
from .collector import EventStore, add_collector_arguments, run_collector
from .collector.formats.segment import describe
from .since import SINCE_FORMS, parse_time
from ..errors import ValidationError

__all__ = ["main"]

PROG = "analytics-sdk"
DEFAULT_EVENTS_URL = "http://127.0.0.1:8088"


MAX_LINES_SHOWN = 10  # invalid lines reported one by one; the rest are counted


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


# -- argument parsing --------------------------------------------------------------------

CALL_EXAMPLES = {
    "identify": 'analytics-sdk identify --user-id u1 --traits \'{"email": "ada@example.com"}\'',
    "track": 'analytics-sdk track --user-id u1 --event "Order Completed" --properties \'{"revenue": 42}\'',
    "page": "analytics-sdk page --user-id u1 --category Docs --name Intro",
    "screen": "analytics-sdk screen --anonymous-id a1 --name Home",
    "group": 'analytics-sdk group --user-id u1 --group-id acme --traits \'{"plan": "team"}\'',
    "alias": "analytics-sdk alias --previous-id anon-7 --user-id u1",
}

# Which flags each call takes, in the order of the function's arguments.
CALL_FLAGS = {
    kind: [name for name in messages.BUILDER_ARGUMENTS[kind]] for kind in messages.BUILDERS
}
JSON_FLAGS = {"properties", "traits", "context", "integrations"}


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("destination")
    group.add_argument(
        "--write-key", default=os.environ.get("ANALYTICS_WRITE_KEY"), help="write key (default: $ANALYTICS_WRITE_KEY)"
    )
    group.add_argument(
        "--host",
        default=os.environ.get("ANALYTICS_HOST"),
        help="collector URL (default: $ANALYTICS_HOST, else https://api.segment.io)",
    )
    group.add_argument("--gzip", action="store_true", help="gzip request bodies")
    group.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to keep trying before giving up (default: 30)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send analytics events from a shell, backfill NDJSON, run and read a local collector.",
        epilog="Run 'analytics-sdk COMMAND --help' for a command's flags and examples.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for kind in messages.BUILDERS:
        sub = commands.add_parser(
            kind,
            help=f"send one {kind} call",
            description=f"Send one {kind} call and wait for the outcome. Prints the messageId.",
            epilog=f"example:\n  {CALL_EXAMPLES[kind]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for name in CALL_FLAGS[kind]:
            flag = "--" + name.replace("_", "-")
            what = "JSON object" if name in JSON_FLAGS else "string"
            sub.add_argument(flag, dest=name, metavar="JSON" if name in JSON_FLAGS else None, help=f"{name} ({what})")
        _connection_arguments(sub)

    send = commands.add_parser(
        "send",
        help="send newline-delimited JSON messages (Segment format) from a file or stdin",
        description=(
            "Stream NDJSON messages (one Segment-format message per line, with a 'type') for backfills. "
            "Blocks instead of dropping when the queue is full; memory stays bounded."
        ),
        epilog="examples:\n  analytics-sdk send events.ndjson\n  analytics-sdk events --json | analytics-sdk send -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("file", help="NDJSON file, or - for standard input")
    send.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress line (default: on a terminal)")
    _connection_arguments(send)

    serve = commands.add_parser(
        "serve",
        help="run the local collector",
        description="Run a local Segment-compatible collector that stores events in SQLite.",
        epilog="examples:\n  analytics-sdk serve --port 8088 --db events.db\n  analytics-sdk serve --error-rate 0.2 --throttle-rate 0.05",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_collector_arguments(serve)

    events = commands.add_parser(
        "events",
        help="read back what a local collector stored",
        description="List the messages a local collector stored, oldest first.",
        epilog=(
            "examples:\n  analytics-sdk events --type track --since 10m\n"
            "  analytics-sdk events --user u1 --follow\n  analytics-sdk events --db events.db --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = events.add_mutually_exclusive_group()
    source.add_argument("--url", default=None, help=f"collector URL (default: $ANALYTICS_HOST or {DEFAULT_EVENTS_URL})")
    source.add_argument("--db", help="read the collector's SQLite file directly")
    events.add_argument(
        "--write-key", default=os.environ.get("ANALYTICS_WRITE_KEY"),
        help="the collector's write key, if it was started with one (default: $ANALYTICS_WRITE_KEY)",
    )
    events.add_argument("--type", choices=list(messages.BUILDERS), help="only this call type")
    events.add_argument("--user", help="only this userId")
    events.add_argument("--event", help="only this event name")
    events.add_argument("--since", help=f"only messages received since: {SINCE_FORMS}")
    events.add_argument("--limit", type=int, help="at most this many")
    events.add_argument("--follow", action="store_true", help="keep printing new messages as they arrive (Ctrl-C stops)")
    events.add_argument("--json", action="store_true", help="one JSON message per line (NDJSON), for scripts")
    return parser


# -- send one call -----------------------------------------------------------------------------


def _parse_json_flag(name: str, text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--{name.replace('_', '-')} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"--{name.replace('_', '-')} must be a JSON object")
    return value


def _client(args: argparse.Namespace, **options: Any) -> Client:
    if not args.write_key:
        raise UsageError("a write key is required: --write-key KEY or ANALYTICS_WRITE_KEY")
    return Client(
        args.write_key,
        host=args.host,
        gzip=args.gzip,
        max_total_backoff_duration=args.timeout,
        flush_timeout=args.timeout,
        **options,
    )


def run_call(args: argparse.Namespace, out: TextIO) -> int:
    kind = args.command
    kwargs = {
        name: _parse_json_flag(name, getattr(args, name)) if name in JSON_FLAGS else getattr(args, name)
        for name in CALL_FLAGS[kind]
    }
    failures: List[str] = []
    client = _client(args, sync_mode=True, on_error=lambda error, _messages: failures.append(str(error)))
    try:
        delivered, message = getattr(client, kind)(**kwargs)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    outcome = "delivered" if delivered else "NOT delivered: " + ("; ".join(failures) or "unknown")
    print(f"{message['messageId']} {outcome}", file=out)
    return 0 if delivered else 1


# -- send NDJSON -------------------------------------------------------------------------------


class Progress:
    """A one-line progress display on a terminal (stderr)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, read: int, stats: Dict[str, Any], invalid: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < 0.2):
            return
        self._last = now
        rate = stats["delivered"] / max(now - self.started, 1e-9)
        failed = stats["dropped_total"] + invalid
        line = f"\r{read:,} read · {stats['delivered']:,} sent · {rate:,.0f}/s · {failed:,} failed"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()


def _lines(path: str) -> Iterator[bytes]:
    # Bytes, decoded line by line: one line that is not UTF-8 must not end the backfill.
    if path == "-":
        yield from sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield from handle


def _call_from_line(line: bytes) -> Tuple[str, Dict[str, Any]]:
    """The call a line asks for; ValueError saying why when it asks for none."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    return messages.call_from_wire(data)


def run_send(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client = _client(args, queue_full_timeout=args.timeout)
    progress = Progress(err, err.isatty() if args.progress is None else args.progress)
    invalid = 0
    read = 0
    for number, line in enumerate(_lines(args.file), start=1):
        if not line.strip():
            continue
        read += 1
        try:
            kind, kwargs = _call_from_line(line)
            getattr(client, kind)(**kwargs)
        except (ValueError, ValidationError, RecursionError, TypeError) as exc:  # json errors are ValueErrors
            invalid += 1
            if invalid <= MAX_LINES_SHOWN:
                reason = str(exc) if isinstance(exc, (ValueError, ValidationError)) else type(exc).__name__
                print(f"{PROG}: line {number}: {reason}", file=err)
        progress.update(read, client.stats(), invalid)
    if invalid > MAX_LINES_SHOWN:
        print(f"{PROG}: ... and {invalid - MAX_LINES_SHOWN:,} more invalid lines", file=err)
    finished = client.shutdown(timeout=args.timeout)
    stats = client.stats()
    progress.update(read, stats, invalid, final=True)
    dropped = ", ".join(f"{reason}: {count}" for reason, count in sorted(stats["dropped"].items()))
    print(
        f"{read:,} messages read: {stats['delivered']:,} delivered, {invalid:,} invalid, "
        f"{stats['dropped_total']:,} not delivered{f' ({dropped})' if dropped else ''}",
        file=out,
    )
    return 0 if finished and not invalid and not stats["dropped_total"] else 1


# -- read back ------------------------------------------------------------------------------------

def parse_since(text: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Epoch seconds from an ISO-8601 time, epoch seconds or an age such as ``10m``."""
    if text is None:
        return None
    try:
        return parse_time(text, now)
    except ValueError:
        raise UsageError(f"--since takes {SINCE_FORMS}, got {text!r}") from None


def _fetch(args: argparse.Namespace, after: int, since: Optional[float]) -> List[Dict[str, Any]]:
    filters = {"type": args.type, "user_id": args.user, "event": args.event, "since": since, "limit": args.limit}
    if args.db:
        if not os.path.exists(args.db):
            raise UsageError(f"no such collector database: {args.db}")
        store = EventStore(args.db)
        try:
            return store.query(after_seq=after, **filters)
        finally:
            store.close()
    import requests

    url = (args.url or os.environ.get("ANALYTICS_HOST") or DEFAULT_EVENTS_URL).rstrip("/")
    params = {k: v for k, v in filters.items() if v is not None}
    params["after"] = after
    auth = (args.write_key, "") if args.write_key else None
    try:
        response = requests.get(url + "/v1/events", params=params, auth=auth, timeout=10)
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach a collector at {url} ({type(exc).__name__}); start one with 'analytics-sdk serve'") from None
    if response.status_code == 401:
        raise UsageError(f"{url} needs its write key to read: --write-key KEY or ANALYTICS_WRITE_KEY")
    if response.status_code != 200:
        raise UsageError(f"{url} answered HTTP {response.status_code}; is it an analytics-sdk collector?")
    return response.json()["events"]


def format_row(message: Dict[str, Any]) -> str:
    # Local time with its UTC offset: a bare clock time is ambiguous across machines and DST.
    received = datetime.fromtimestamp(message["_received"]["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    who = message.get("userId") or f"(anon) {message.get('anonymousId')}"
    return f"{received}  {message.get('type', ''):<8}  {who:<20}  {describe(message):<28}  {message.get('messageId')}"


def run_events(args: argparse.Namespace, out: TextIO) -> int:
    since = parse_since(args.since)
    after = 0
    header_shown = False
    while True:
        rows = _fetch(args, after, since)
        for message in rows:
            after = max(after, message["_received"]["seq"])
            if args.json:
                message.pop("_received")
                print(json.dumps(message, separators=(",", ":")), file=out)
            else:
                if not header_shown:
                    print(f"{'received':<25}  {'type':<8}  {'user':<20}  {'what':<28}  messageId", file=out)
                    header_shown = True
                print(format_row(message), file=out)
        out.flush()
        if not args.follow:
            if not rows and not args.json:
                print("(no matching messages)", file=out)
            return 0
        time.sleep(0.5)


# -- entry point ---------------------------------------------------------------------------------------


def main(argv: Optional[Iterable[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        if args.command in messages.BUILDERS:
            return run_call(args, out)
        if args.command == "send":
            return run_send(args, out, err)
        if args.command == "serve":
            return run_collector(args, prog=PROG)
        return run_events(args, out)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
