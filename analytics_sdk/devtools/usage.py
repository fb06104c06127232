"""What the ``analytics-sdk`` command's parts share: its name and the error for bad input."""

from __future__ import annotations

__all__ = ["PROG", "UsageError"]

PROG = "analytics-sdk"


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""
