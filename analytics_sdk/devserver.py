"""The local collector's historical import path and ``python -m analytics_sdk.devserver``.

The collector lives in :mod:`analytics_sdk.devtools.collector`; this module keeps
the documented name working.
"""

from __future__ import annotations

from .devtools.collector import Collector, EventStore, Faults, main, validate_message

__all__ = ["Collector", "Faults", "EventStore", "validate_message", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
