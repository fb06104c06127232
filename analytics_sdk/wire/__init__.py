"""Destinations: one module per backend. A destination owns its wire format, request,
limits and the meaning of its responses (see ``base.py``); delivery is shared."""

from .amplitude import Amplitude
from .base import Action, Destination, Reply, Unsendable, reply_from_status
from .mparticle import MParticle
from .segment import CustomerIO, Hightouch, RudderStack, Segment

__all__ = [
    "Action",
    "Destination",
    "Reply",
    "Unsendable",
    "reply_from_status",
    "Segment",
    "RudderStack",
    "Hightouch",
    "CustomerIO",
    "MParticle",
    "Amplitude",
]
