"""Events whose fate the SDK cannot know: their request went out whole and no answer
came back before the exit deadline. The server may have stored them or not; they are
reported as ``outcome_unknown``, not ``shutdown_timeout`` (docs/delivery.md, "Drop
reasons"). Resending them is safe where the collector deduplicates by messageId
(Segment does), since a resend keeps each event's messageId.

How the SDK knows: around each request the uploader *watches* the part it sends;
the transport calls :func:`body_sent` once the last byte of the request went out,
and :func:`answered` when a status came back. Once a request went out unanswered,
the part stays in doubt: a later request's answer clears only what that request
itself set (the earlier one may still have been stored). Keyed by thread (by
greenlet under gevent: ``threading.get_ident`` is looked up at each call, green.py).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Tuple

from .progress import Part

__all__ = ["OUTCOME_UNKNOWN", "watching", "body_sent", "answered", "exit_cut"]

OUTCOME_UNKNOWN = "outcome_unknown"
_UNKNOWN_DETAIL = (
    "sent whole, no answer before the shutdown deadline: the server may have stored them "
    "(a resend is safe where it deduplicates by messageId)"
)


class _Watch:
    __slots__ = ("part", "before")

    def __init__(self, part: Part) -> None:
        self.part = part
        self.before = part.in_doubt  # what earlier requests left


_watched: Dict[int, _Watch] = {}


@contextmanager
def watching(part: Part) -> Iterator[None]:
    """(uploader) Around one request for ``part``."""
    key = threading.get_ident()
    _watched[key] = _Watch(part)
    try:
        yield
    finally:
        _watched.pop(key, None)


def body_sent() -> None:
    """(transport) The whole request went out: until an answer, its events are in doubt."""
    watch = _watched.get(threading.get_ident())
    if watch is not None:
        watch.part.in_doubt = True


def answered() -> None:
    """(transport) A final status came back for this request: it is no longer in doubt."""
    watch = _watched.get(threading.get_ident())
    if watch is not None:
        watch.part.in_doubt = watch.before


def exit_cut(in_doubt: bool, detail: str) -> Tuple[str, str]:
    """The reason and detail to report a part with when the exit deadline cuts it off."""
    if in_doubt:
        return OUTCOME_UNKNOWN, _UNKNOWN_DETAIL
    return "shutdown_timeout", detail
