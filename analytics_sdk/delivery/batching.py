"""Pure batching: pack encoded messages into count- and byte-bounded requests."""

from __future__ import annotations

from itertools import repeat, starmap
from typing import Any, Deque, List, Sequence, Tuple

from ..wire.bodies import array_parts, join_array
from ..wire.segment import ENVELOPE_BYTES, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, body_parts, build_body

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_BATCH_BYTES",
    "ENVELOPE_BYTES",
    "fits",
    "take_batch",
    "build_body",
    "join_array",
    "array_parts",
    "body_parts",
    "halves",
]

# Segment's limits and envelope are the Segment destination's (wire/segment.py);
# the names stay here too, as the defaults of fits() and take_batch().


def fits(
    count: int,
    body_bytes: int,
    next_size: int,
    max_count: int,
    max_bytes: int = MAX_BATCH_BYTES,
    envelope: int = ENVELOPE_BYTES,
) -> bool:
    """Whether one more message of ``next_size`` bytes fits in a batch holding
    ``count`` messages of ``body_bytes`` bytes (separators and envelope included)."""
    if count == 0:
        return True  # a single message always goes, alone if need be
    return count < max_count and envelope + body_bytes + count + next_size <= max_bytes


def take_batch(
    queue: Deque[bytes], max_count: int, max_bytes: int = MAX_BATCH_BYTES, envelope: int = ENVELOPE_BYTES
) -> List[bytes]:
    """Pop the longest prefix of ``queue`` that fits in one request (at least one message).

    The common case (a full count well under the byte limit) costs one list
    comprehension; only an oversized batch is trimmed message by message.
    """
    # starmap calls popleft from C: no bytecode per message (~30% less than a comprehension).
    batch = list(starmap(queue.popleft, repeat((), min(len(queue), max_count))))
    if len(batch) <= 1 or envelope + sum(map(len, batch)) + len(batch) - 1 <= max_bytes:
        return batch
    size = 0
    for count, item in enumerate(batch):
        if not fits(count, size, len(item), max_count, max_bytes, envelope):
            queue.extendleft(reversed(batch[count:]))  # back to the front, in order
            return batch[:count]
        size += len(item)
    return batch


def halves(messages: Sequence[bytes]) -> Tuple[List[bytes], List[bytes]]:
    """Split a batch in two for isolating a message the server rejects."""
    middle = len(messages) // 2
    return list(messages[:middle]), list(messages[middle:])
