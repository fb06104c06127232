"""Pure: the hold heap, events held back until a time (a throttled user's), by token.

Held events wait as in-flight records of their own (flush waits for them) while
other events keep flowing; the heap says which record is due next. Not
thread-safe by itself: the consumer guards it with its lock.
"""

from __future__ import annotations

import heapq
from typing import List, Optional, Tuple

__all__ = ["Holds"]


class Holds:
    """(due, token) of held records, the earliest first."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int]] = []

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, due: float, token: int) -> None:
        heapq.heappush(self._heap, (due, token))

    def pop_due(self, now: float) -> Optional[int]:
        """The token of a hold whose time has come, or None."""
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[1]
        return None

    def next_due(self) -> Optional[float]:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()
