"""Pure queue of encoded events, kept in runs that each fit one request.

The caller appends to the last run until it holds ``max_count`` events or one
more would push the request body past ``max_bytes``; the uploader takes the
oldest run whole, in O(1). A run taken early (light traffic, a flush) is simply
shorter; a backlog fills runs to the limit. A run stores its events already
joined by commas, as a request body holds them, plus where each one ends. Why,
with the figures: docs/architecture/hot-path.md, "The queue in runs".
"""

from __future__ import annotations

import collections
from array import array
from typing import Any, Deque, Iterator, List, Sequence, Union, overload

__all__ = ["Run", "RunQueue"]


class Run(Sequence[bytes]):
    """Events of one request: their bytes joined by commas, and each one's end offset.

    Reads like a list of the events' bytes (each read is a copy: reports, retries
    and splits, off the common path); ``joined`` is what a request body embeds."""

    __slots__ = ("joined", "_ends")

    def __init__(self, first: bytes) -> None:
        self.joined = bytearray(first)
        self._ends = array("Q", (len(first),))

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> List[bytes]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[bytes, List[bytes]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._items(start, max(start, stop))
            return self._items(0, len(self))[index]  # rare: no caller steps
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("run index out of range")
        return self._items(index, index + 1)[0]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._items(0, len(self)))

    def _items(self, first: int, stop: int) -> List[bytes]:
        """Events ``first`` to ``stop - 1``, each as its own bytes (one copy each)."""
        ends = self._ends
        view = memoryview(self.joined)
        try:
            start = ends[first - 1] + 1 if first else 0
            items = []
            for end in ends[first:stop]:
                items.append(bytes(view[start:end]))
                start = end + 1
            return items
        finally:
            view.release()  # a live view would forbid the bytearray to grow

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, (Run, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by content, and never a key

    def __repr__(self) -> str:
        return f"Run({list(self)!r})"


class RunQueue:
    """FIFO of encoded events, grouped in request-sized runs (not thread-safe: callers lock)."""

    __slots__ = ("max_count", "max_bytes", "_runs", "_count")

    def __init__(self, max_count: int, max_bytes: int) -> None:
        """``max_bytes`` bounds the comma-joined events of a run (the envelope excluded)."""
        self.max_count = max(1, max_count)
        self.max_bytes = max_bytes
        self._runs: Deque[Run] = collections.deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        for run in self._runs:
            yield from run

    def append(self, item: bytes) -> bool:
        """Queue ``item``; True when a run became complete (full, or closed by the byte limit).

        On the caller's path: Run's parts are updated here, inline, not through a method."""
        self._count += 1
        if self._runs:
            run = self._runs[-1]
            joined = run.joined
            size = len(run._ends)
            if size < self.max_count and len(joined) + 1 + len(item) <= self.max_bytes:
                joined += b","
                joined += item
                run._ends.append(len(joined))
                return size + 1 == self.max_count
            closed = size < self.max_count  # a full one was reported when it filled
        else:
            closed = False
        self._runs.append(Run(item))  # a single event always goes, alone if need be
        return closed or self.max_count == 1

    def oldest_complete(self) -> bool:
        """Whether the oldest run is a full request (no more events will join it)."""
        runs = self._runs
        return len(runs) > 1 or (bool(runs) and len(runs[0]) >= self.max_count)

    def take(self) -> Sequence[bytes]:
        """The oldest run (empty when nothing is queued)."""
        if not self._runs:
            return []
        run = self._runs.popleft()
        self._count -= len(run)
        return run

    def clear(self) -> None:
        self._runs.clear()
        self._count = 0
