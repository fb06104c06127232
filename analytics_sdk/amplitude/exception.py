"""``amplitude.exception``: the exception classes of ``amplitude-analytics``, for ``except``
clauses in user code. This drop-in never raises them: it logs instead (as the
reference does for both, in the end)."""

from __future__ import annotations

__all__ = ["InvalidEventError", "InvalidAPIKeyError"]


class InvalidEventError(Exception):
    """An event without event_type, or without both user_id and device_id."""


class InvalidAPIKeyError(Exception):
    """Amplitude refused the API key."""
