"""Exceptions the SDK raises at call sites and the error it hands to ``on_error``."""

from __future__ import annotations

from typing import Optional

__all__ = ["ValidationError", "DeliveryError"]


class ValidationError(TypeError, ValueError, AssertionError):
    """A call was made with a bad argument; the message names the argument.

    It subclasses ``TypeError`` and ``ValueError`` (what Python code expects for bad
    arguments) and ``AssertionError`` (what ``segment-analytics-python`` raised), so
    existing ``except AssertionError:`` blocks keep working after the switch.
    """


class DeliveryError(Exception):
    """Why messages were not delivered; passed to ``on_error(error, messages)``.

    ``reason`` is one of the drop reasons counted in ``Client.stats()``;
    ``status`` is the last HTTP status (None when there was no response) and
    ``attempts`` the number of HTTP requests made for these messages;
    ``destination`` names the destination (None for what happened before routing).
    """

    def __init__(
        self,
        reason: str,
        detail: str = "",
        status: Optional[int] = None,
        attempts: int = 0,
        destination: Optional[str] = None,
    ) -> None:
        self.reason = reason
        self.destination = destination
        self.detail = detail
        self.status = status
        self.attempts = attempts
        parts = [reason]
        if status is not None:
            parts.append(f"HTTP {status}")
        if attempts:
            parts.append(f"after {attempts} attempt{'s' if attempts != 1 else ''}")
        text = ", ".join(parts)
        super().__init__(f"{text}: {detail}" if detail else text)
