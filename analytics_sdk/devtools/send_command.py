"""``analytics-sdk send``: stream Segment-format NDJSON through a client, with a progress line.

On a terminal the progress line is redrawn in place at the bottom; an error about
a line is written on a line of its own above it, never glued to it. The progress
line and the summary use the same words: delivered, invalid, not delivered.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any, Callable, Dict, Iterator, TextIO, Tuple

from .. import messages
from ..client import Client
from ..errors import ValidationError
from .usage import PROG, UsageError

__all__ = ["Progress", "run_send", "MAX_LINES_SHOWN"]

MAX_LINES_SHOWN = 10  # invalid lines reported one by one; the rest are counted
_CLEAR_TO_END = "\x1b[K"  # erase what an older, longer progress line left on screen


class Progress:
    """A one-line progress display on a terminal (stderr), with other lines printed above it."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False  # a progress line is on screen, not yet ended by a newline

    def update(self, read: int, stats: Dict[str, Any], invalid: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < 0.2):
            return
        self._last = now
        rate = stats["delivered"] / max(now - self.started, 1e-9)
        line = (
            f"{read:,} read · {stats['delivered']:,} delivered · {rate:,.0f}/s · {invalid:,} invalid · "
            f"{stats['dropped_total']:,} not delivered"
        )
        self.stream.write(f"\r{line}{_CLEAR_TO_END}" + ("\n" if final else ""))
        self.stream.flush()
        self._drawn = not final

    def message(self, text: str) -> None:
        """``text`` on a line of its own; the progress line is redrawn below it at the next update."""
        if self._drawn:
            self.stream.write("\r" + _CLEAR_TO_END)
            self._drawn = False
            self._last = 0.0  # redraw at once
        self.stream.write(text + "\n")
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


def call_from_line(line: bytes) -> Tuple[str, Dict[str, Any]]:
    """The call a line asks for; ValueError saying why when it asks for none."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except json.JSONDecodeError as exc:
        # The line number is the file's (said once, before this); json's own would be 1 or 2.
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.pos + 1}") from None
    return messages.call_from_wire(data)


# The SDK's errors name Python types; a line of NDJSON has JSON ones.
_JSON_TYPES = {"NoneType": "null (or nothing)", "str": "a string", "int": "a number", "float": "a number",
               "bool": "a boolean", "dict": "an object", "list": "an array"}


def _in_json_terms(reason: str) -> str:
    return re.sub(r"got (\w+)$", lambda m: f"got {_JSON_TYPES.get(m.group(1), m.group(1))}", reason)


def run_send(args: argparse.Namespace, out: TextIO, err: TextIO, make_client: Callable[..., Client]) -> int:
    client = make_client(args, queue_full_timeout=args.timeout)
    progress = Progress(err, err.isatty() if args.progress is None else args.progress)
    invalid = 0
    read = 0
    for number, line in enumerate(_lines(args.file), start=1):
        if not line.strip():
            continue
        read += 1
        try:
            kind, kwargs = call_from_line(line)
            getattr(client, kind)(**kwargs)
        except (ValueError, ValidationError, RecursionError, TypeError) as exc:  # json errors are ValueErrors
            invalid += 1
            if invalid <= MAX_LINES_SHOWN:
                known = isinstance(exc, (ValueError, ValidationError))
                reason = _in_json_terms(str(exc)) if known else type(exc).__name__
                progress.message(f"{PROG}: line {number}: {reason}")
        progress.update(read, client.stats(), invalid)
    if invalid > MAX_LINES_SHOWN:
        progress.message(f"{PROG}: ... and {invalid - MAX_LINES_SHOWN:,} more invalid lines")
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
