"""Pure: apply a destination's :class:`~analytics_sdk.wire.base.Reply` to the
events of one request, giving each event exactly one next step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from ..wire.reply import Action, Reply
from .batching import halves

__all__ = ["Resolution", "resolve"]


@dataclass
class Resolution:
    delivered: Sequence[bytes] = field(default_factory=list)
    dropped: Dict[Tuple[str, str], List[bytes]] = field(default_factory=dict)  # (reason, detail) -> events
    retry: Sequence[bytes] = field(default_factory=list)  # resend after a backoff or Retry-After
    held: Dict[float, List[bytes]] = field(default_factory=dict)  # seconds -> events to resend then
    halves: List[List[bytes]] = field(default_factory=list)  # split parts, in order


def resolve(reply: Reply, items: Sequence[bytes]) -> Resolution:
    """Where each of ``items`` goes next. Indices outside ``items`` are ignored."""
    result = Resolution()
    rest: Sequence[bytes] = items
    if reply.drops or reply.holds:
        kept: List[bytes] = []
        for index, item in enumerate(items):
            drop = reply.drops.get(index)
            if drop is not None:
                result.dropped.setdefault((drop[0], drop[1]), []).append(item)
                continue
            hold = reply.holds.get(index)
            if hold is not None:
                result.held.setdefault(max(0.0, float(hold)), []).append(item)
                continue
            kept.append(item)
        rest = kept
    if not rest:
        return result
    action = reply.action
    if action is Action.DELIVERED:
        result.delivered = rest
    elif action is Action.RETRY:
        result.retry = rest
    elif action is Action.SPLIT and len(rest) > 1:
        result.halves = list(halves(rest))
    else:  # DROP, or SPLIT of a single event: it is the bad one
        reason = reply.reason or "rejected"
        result.dropped.setdefault((reason, reply.detail), []).extend(rest)
    return result
