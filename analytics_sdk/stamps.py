"""What every message is stamped with: a messageId unique across processes, the
current time as ISO-8601 UTC, and the library context (``context.library``)."""

from __future__ import annotations

import itertools
import os
import time
from datetime import timezone
from typing import Any, Dict, Iterator, Tuple

from .process import check as check_fork
from .process import forked as _forked
from .process import on_fork_child
from .version import VERSION

__all__ = ["LIBRARY", "LIBRARY_ONLY_CONTEXT", "library_context", "new_message_id", "utc_now_iso"]

# What every message says about us (context.library; a wrapper may change it here).
# Each message gets its own copy: a message is handed back to the caller and to
# plugins, and a change made to it there must not reach any other message.
LIBRARY: Dict[str, str] = {"name": "analytics-sdk-python", "version": VERSION}
LIBRARY_ONLY_CONTEXT: Dict[str, Any] = {"library": dict(LIBRARY)}  # never handed out: compared against


def library_context() -> Dict[str, Any]:
    """A new ``{"library": {...}}`` context (the default one)."""
    return {"library": LIBRARY.copy()}


_time = time.time
_VARIANT = "89ab"

# A messageId is a per-process random prefix (74 random bits, in the layout of a
# version-4 UUID) plus a 48-bit sequence that starts at a random value: unique
# within the process by construction and across processes by the prefix, for one
# formatted counter per call (~0.4 us, against ~1.3 us for 128 fresh random bits).
# Both come from os.urandom at import and again in every fork child, never per
# call: os.urandom releases the GIL, which hands it to the uploader thread and
# stalls the caller for the whole of the uploader's turn.
_SEQUENCE_MASK = (1 << 48) - 1


def _new_id_source() -> Tuple[str, Iterator[int]]:
    h = os.urandom(16).hex()
    prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-"
    return prefix, itertools.count(int(h[20:], 16))


_id_prefix, _id_sequence = _new_id_source()


def _reseed_after_fork() -> None:
    global _id_prefix, _id_sequence
    _id_prefix, _id_sequence = _new_id_source()


on_fork_child(_reseed_after_fork)


def new_message_id() -> str:
    """A fresh messageId, formatted as a version-4 UUID string."""
    if _forked():  # a fork no at-fork hook saw (uWSGI's): the parent's prefix is not ours
        check_fork()
    # next() on itertools.count is atomic under the GIL: threads never share a value.
    return f"{_id_prefix}{next(_id_sequence) & _SEQUENCE_MASK:012x}"


# (second, "YYYY-MM-DDTHH:MM:SS") of the last call; one tuple so threads never see a mix.
_second_prefix = (-1, "")


def utc_now_iso() -> str:
    """The current time as ISO-8601 UTC with microseconds, like
    ``datetime.now(timezone.utc).isoformat()`` but reusing the formatted second."""
    global _second_prefix
    now = _time()
    second = int(now)
    cached_second, prefix = _second_prefix
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_prefix = (second, prefix)
    return f"{prefix}.{int((now - second) * 1_000_000):06d}+00:00"
