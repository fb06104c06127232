"""Query strings of the read endpoints, checked: a bad value is a 400 with a reason, never a traceback."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

from ..since import SINCE_FORMS, parse_time
from .formats import RequestError

__all__ = ["event_filters", "MAX_LIMIT"]

MAX_LIMIT = 10_000
_TEXT_FILTERS = ("type", "user_id", "user", "event", "format", "q")


def _int(name: str, low: int, high: Optional[int] = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise RequestError(400, f"{name} must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise RequestError(400, f"{name} must be {bound}, got {value}")
        return value

    return parse


def _time(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return parse_time(text)
        except ValueError:
            raise RequestError(400, f"{name} takes {SINCE_FORMS}, got {text!r}") from None

    return parse


def _order(text: str) -> str:
    if text not in ("asc", "desc"):
        raise RequestError(400, f"order must be asc or desc, got {text!r}")
    return text


_PARSERS: Dict[str, Callable[[str], Any]] = {
    "since": _time("since"),
    "until": _time("until"),
    "after": _int("after", 0),
    "before": _int("before", 0),
    "limit": _int("limit", 1, MAX_LIMIT),
    "order": _order,
}


def event_filters(query: Mapping[str, str]) -> Dict[str, Any]:
    """Keyword arguments for :meth:`EventStore.query` from ``?type=&user_id=&since=&limit=...``."""
    filters: Dict[str, Any] = {}
    for name, text in query.items():
        if name in _TEXT_FILTERS:
            filters[name] = text
        elif name in _PARSERS:
            filters[name] = _PARSERS[name](text)
        else:
            raise RequestError(400, f"unknown parameter {name!r}")
    if "after" in filters:
        filters["after_seq"] = filters.pop("after")
    if "before" in filters:
        filters["before_seq"] = filters.pop("before")
    return filters
