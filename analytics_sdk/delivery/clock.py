"""Time and turn-taking shared by the delivery threads (no state).

``monotonic`` is bound once: gevent and eventlet never patch it. ``time.sleep`` is
looked up at each use instead, since they do patch it (green.py).
"""

from __future__ import annotations

import time
from typing import Optional

__all__ = ["monotonic", "FOREVER", "MAX_WAIT", "hand_over_gil", "time_left"]

monotonic = time.monotonic
FOREVER = float("inf")
MAX_WAIT = 3600.0  # Condition.wait() refuses huge timeouts; longer waits loop


def time_left(deadline: Optional[float]) -> Optional[float]:
    """Seconds until ``deadline`` (0 once past it); None for no deadline (None or FOREVER)."""
    if deadline is None or deadline == FOREVER:
        return None
    return max(0.0, deadline - monotonic())


def hand_over_gil() -> None:
    """Let another thread run now: the uploader when a run completes, the application
    between two requests. Why: docs/architecture/hot-path.md, "Handing the GIL over"."""
    time.sleep(0)  # (gevent/eventlet: their sleep, which switches greenlets)
