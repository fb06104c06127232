"""One parser for "since when" (the CLI's ``--since`` and the collector's ``?since=``)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Optional

__all__ = ["parse_time", "SINCE_FORMS"]

SINCE_FORMS = "an ISO-8601 time, epoch seconds, or an age like 30s, 10m, 2h, 1d"

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_EPOCH = re.compile(r"^\d+(?:\.\d+)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: Optional[float] = None) -> float:
    """Epoch seconds from an ISO-8601 time, epoch seconds, or an age such as ``10m``; ValueError otherwise."""
    value = text.strip()
    match = _AGE.match(value)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if _EPOCH.match(value):
        return float(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"takes {SINCE_FORMS}, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()
