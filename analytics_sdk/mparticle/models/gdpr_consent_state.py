"""``GDPRConsentState``, where the reference has it (``mparticle.models.gdpr_consent_state``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["GDPRConsentState"]


class GDPRConsentState(Model):
    """One GDPR consent purpose's state."""

    _fields = fields("document consented timestamp_unixtime_ms location hardware_id")
