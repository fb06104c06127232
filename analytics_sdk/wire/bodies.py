"""Pure: request bodies joined from encoded events, the way every destination builds them.

A destination's body is a head, the events separated by commas, and a tail. The
engine may hand a destination a sequence that carries its events already joined
(an attribute ``joined``: the queue's runs, ``delivery/runs.py``); such a body
goes out as head + that buffer + tail, never copied under the GIL (the reasons
and figures: docs/architecture/hot-path.md, "Request bodies").
"""

from __future__ import annotations

from typing import Any, List, Sequence

__all__ = ["join_array", "array_parts"]


def join_array(head: bytes, items: Sequence[bytes], tail: bytes) -> bytes:
    """``head`` + the items separated by commas + ``tail``, in one allocation."""
    if not items:
        return head + tail
    if getattr(items, "joined", None) is not None:  # already joined by the queue: one contiguous copy
        return b"".join(array_parts(head, items, tail))
    parts: List[bytes] = [b","] * (2 * len(items) + 1)  # head, item, ",", item, ..., item, tail
    parts[0] = head
    parts[1::2] = items
    parts[-1] = tail
    return b"".join(parts)


def array_parts(head: bytes, items: Sequence[bytes], tail: bytes) -> List[Any]:
    """``join_array``'s bytes as pieces to send one after the other: for a queue run,
    its joined buffer itself (the kernel copies it, as it sends)."""
    joined = getattr(items, "joined", None)
    if joined is not None and items:
        return [head, memoryview(joined), tail]
    return [join_array(head, items, tail)]
