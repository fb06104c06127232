"""Fault injection: make the collector fail a share of requests, to test resilience."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["Faults"]


@dataclass
class Faults:
    """What share of requests to fail, and how. All off by default."""

    error_rate: float = 0.0  # answer 500
    throttle_rate: float = 0.0  # answer 429 with Retry-After
    retry_after: str = "1"
    drop_rate: float = 0.0  # close the connection without answering
    latency: float = 0.0  # seconds added to every request
    stall: bool = False  # never answer (until the collector stops)
    max_body_bytes: Optional[int] = None  # 413 above this; None: the format's own limit (Segment: 500 KB)
    poison: Optional[str] = None  # 400 for any request whose body contains this text
    seed: Optional[int] = None
    # Amplitude: a request with an event of these user or device ids gets Amplitude's 429
    # naming them in throttled_users/throttled_devices (and nothing of it is stored).
    throttled_ids: Tuple[str, ...] = ()
