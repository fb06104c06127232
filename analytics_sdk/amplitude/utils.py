"""``amplitude.utils``: the helpers of ``amplitude-analytics`` that user code calls."""

from __future__ import annotations

import logging
import time
from typing import Any

from .constants import LOGGER_NAME, MAX_PROPERTY_KEYS, MAX_STRING_LENGTH

__all__ = ["current_milliseconds", "truncate"]

logger = logging.getLogger(LOGGER_NAME)


def current_milliseconds() -> int:
    return int(time.time() * 1000)


def truncate(obj: Any) -> Any:
    """``obj`` as Amplitude takes it: strings cut to 1,024 characters, and any object
    of more than 1,024 keys replaced by ``{}`` (logged), at every depth. Returns a
    copy; the caller's objects are left as they are."""
    if isinstance(obj, dict):
        if len(obj) > MAX_PROPERTY_KEYS:
            logger.error("Too many properties. %d maximum.", MAX_PROPERTY_KEYS)
            return {}
        return {key: truncate(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [truncate(value) for value in obj]
    if isinstance(obj, str):
        return obj[:MAX_STRING_LENGTH]
    return obj
