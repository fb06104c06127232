"""The ``analytics_sdk`` logger, and what ``debug``/``log_handler`` do to it."""

from __future__ import annotations

import logging
from typing import Optional

__all__ = ["log", "configure_logging"]

log = logging.getLogger("analytics_sdk")
log.addHandler(logging.NullHandler())

_debug_handler: Optional[logging.Handler] = None


def configure_logging(debug: bool, handler: Optional[logging.Handler]) -> None:
    """``debug=True`` adds one stderr handler, once per process however many clients."""
    global _debug_handler
    if handler is not None and handler not in log.handlers:
        log.addHandler(handler)
    if debug:
        log.setLevel(logging.DEBUG)
        if handler is None and _debug_handler is None:
            _debug_handler = logging.StreamHandler()
            log.addHandler(_debug_handler)
