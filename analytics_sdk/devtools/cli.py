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
import re
import sys
from typing import Any, Iterable, List, Optional, TextIO

from .. import messages
from ..client import Client
from ..errors import ValidationError
from .collector import add_collector_arguments, run_collector
from .events_command import DEFAULT_LIMIT, add_events_arguments, parse_since, run_events
from .send_command import run_send
from .usage import PROG, UsageError

__all__ = ["main", "parse_since"]


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
        description=(
            f"List the newest messages a local collector stored ({DEFAULT_LIMIT} unless --limit says otherwise),\n"
            "oldest of them first, and how many older ones match; --follow keeps printing new ones."
        ),
        epilog=(
            "examples:\n  analytics-sdk events --type track --since 10m\n"
            "  analytics-sdk events --user u1 --follow\n  analytics-sdk events --db events.db --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_events_arguments(events)
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


# What a call cannot go without, checked here so that the error names the flag.
REQUIRED_FLAGS = {"track": ("event",), "group": ("group_id",), "alias": ("previous_id", "user_id")}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_required(kind: str, args: argparse.Namespace) -> None:
    missing = [name for name in REQUIRED_FLAGS.get(kind, ()) if getattr(args, name) in (None, "")]
    if missing:
        flags = " and ".join(_flag(name) for name in missing)
        raise UsageError(f"{kind} needs {flags}, for example: {CALL_EXAMPLES[kind]}")


def _in_flags(kind: str, text: str) -> str:
    """The SDK's error with its argument names as this command's flags
    ("user_id or anonymous_id is required" -> "--user-id or --anonymous-id is required")."""
    head, colon, rest = text.partition(":")  # not past a colon: a quoted value may hold the words
    for name in CALL_FLAGS[kind]:
        head = re.sub(rf"(?<![\w-]){name}(?![\w-])", _flag(name), head)
    return head + colon + rest


def run_call(args: argparse.Namespace, out: TextIO) -> int:
    kind = args.command
    _check_required(kind, args)
    kwargs = {
        name: _parse_json_flag(name, getattr(args, name)) if name in JSON_FLAGS else getattr(args, name)
        for name in CALL_FLAGS[kind]
    }
    failures: List[str] = []
    client = _client(args, sync_mode=True, on_error=lambda error, _messages: failures.append(str(error)))
    try:
        delivered, message = getattr(client, kind)(**kwargs)
    except ValidationError as exc:
        raise UsageError(_in_flags(kind, str(exc))) from None
    outcome = "delivered" if delivered else "NOT delivered: " + ("; ".join(failures) or "unknown")
    print(f"{message['messageId']} {outcome}", file=out)
    return 0 if delivered else 1


# -- entry point ---------------------------------------------------------------------------------------


def main(argv: Optional[Iterable[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        if args.command in messages.BUILDERS:
            return run_call(args, out)
        if args.command == "send":
            return run_send(args, out, err, _client)
        if args.command == "serve":
            return run_collector(args, prog=PROG)
        return run_events(args, out, err)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
