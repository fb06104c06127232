"""What Amplitude takes as a property value, checked as ``amplitude-analytics`` checks
it (``is_validate_properties``, ``is_validate_object``: ``amplitude.event`` exports
them). Runs for every property of every event: exact type tests first.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Dict, Optional

from .constants import LOGGER_NAME

__all__ = ["invalid_value", "invalid_object", "is_validate_properties", "is_validate_object", "properties_ok"]

log = logging.getLogger(LOGGER_NAME)

# What Amplitude takes as a property value (the reference's rule): a string, number,
# bool or Enum; a dict of such (string keys); a list of strings, numbers and dicts.
_SCALAR_TYPES = (str, int, float)


def invalid_value(value: Any) -> Optional[str]:
    """Why ``value`` cannot be a property value, or None. Exact types first: this runs
    for every property of every event."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return None
    if kind is dict or isinstance(value, dict):
        return invalid_object(value)
    if kind is list or isinstance(value, list):
        for element in value:
            kind = type(element)
            if kind is str or kind is int or kind is float or kind is bool:
                continue
            if kind is dict or isinstance(element, dict):
                problem = invalid_object(element)
                if problem is not None:
                    return problem
            elif isinstance(element, list) or not isinstance(element, _SCALAR_TYPES):
                return f"a list holds a {type(element).__name__}"
        return None
    if isinstance(value, (bool, float, int, str, enum.Enum)):
        return None
    return f"a {kind.__name__} value"


def invalid_object(values: Dict[Any, Any]) -> Optional[str]:
    for key, value in values.items():
        if type(key) is not str and not isinstance(key, str):
            return f"a {type(key).__name__} key"
        problem = invalid_value(value)
        if problem is not None:
            return f"{problem} (at {key!r})"
    return None


def is_validate_properties(key: Any, value: Any) -> bool:
    """Whether ``key: value`` can be a property (a string key, a value Amplitude takes)."""
    return isinstance(key, str) and invalid_value(value) is None


def is_validate_object(obj: Dict[Any, Any]) -> bool:
    """Whether every ``key: value`` of ``obj`` can be a property."""
    return invalid_object(obj) is None


def properties_ok(name: str, value: Any) -> bool:
    """A property dict Amplitude can take; else an error log, and the caller leaves it out."""
    problem = invalid_object(value)
    if problem is None:
        return True
    log.error("Event property %s left out (Amplitude cannot take it): %s.", name, problem)
    return False
