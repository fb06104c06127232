"""Testing helpers under their documented name (they live in :mod:`analytics_sdk.devtools.testing`)."""

from __future__ import annotations

from .devtools.testing import CapturingClient, MemoryTransport, capture

__all__ = ["MemoryTransport", "CapturingClient", "capture"]
