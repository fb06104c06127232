"""Running the collector from a shell: ``python -m analytics_sdk.devserver`` and ``analytics-sdk serve``."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import List, Optional

from .faults import Faults
from .server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Collector

__all__ = ["add_collector_arguments", "run_collector", "main"]


def add_collector_arguments(parser: argparse.ArgumentParser) -> None:
    """The collector's flags (shared by ``python -m analytics_sdk.devserver`` and ``analytics-sdk serve``)."""
    parser.add_argument("--port", type=int, default=8088, help="port on 127.0.0.1 (0 picks a free one; default 8088)")
    parser.add_argument("--db", default="analytics-events.db", help="SQLite file (':memory:' keeps nothing)")
    parser.add_argument(
        "--write-key", default=None,
        help="require this write key to send (Basic auth) and to read (the viewer, /v1/events, /stats)",
    )
    parser.add_argument(
        "--write-secret", default=None,
        help="with --write-key: the API secret mParticle requests must carry (Basic key:secret; 403 otherwise)",
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT,
        help=f"close connections idle this many seconds (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
        help=f"answer 503 past this many open connections (default {DEFAULT_MAX_CONNECTIONS})",
    )
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500")
    faults.add_argument("--throttle-rate", type=float, default=0.0, help="share answered 429")
    faults.add_argument("--retry-after", default="1", help="Retry-After header sent with 429")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped unanswered")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    faults.add_argument("--max-body-bytes", type=int, default=None, help="answer 413 above this (default: 500 KB)")
    faults.add_argument("--poison", default=None, help="answer 400 to any batch containing this text")
    faults.add_argument(
        "--throttle-ids", default="",
        help="comma-separated user/device ids: Amplitude requests with their events get Amplitude's 429",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")


def run_collector(args: argparse.Namespace, prog: str = "python -m analytics_sdk.devserver") -> int:
    faults = Faults(
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        retry_after=args.retry_after,
        drop_rate=args.drop_rate,
        latency=args.latency,
        max_body_bytes=args.max_body_bytes,
        poison=args.poison,
        throttled_ids=tuple(i.strip() for i in args.throttle_ids.split(",") if i.strip()),
    )
    try:
        collector = Collector(
            args.port, args.db, args.write_key, faults, verbose=args.verbose,
            idle_timeout=args.idle_timeout, max_connections=args.max_connections,
            write_secret=args.write_secret,
        )
    except sqlite3.Error as exc:
        print(f"{prog}: error: cannot open the database {args.db}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"analytics_sdk collector listening on {collector.url} (db: {args.db}); "
        f"open {collector.url}/ to watch events; Ctrl-C to stop",
        flush=True,
    )
    try:
        collector.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics_sdk.devserver",
        description="Run a local Segment-compatible collector that stores events in SQLite, with a live viewer at /.",
    )
    add_collector_arguments(parser)
    return run_collector(parser.parse_args(argv))
