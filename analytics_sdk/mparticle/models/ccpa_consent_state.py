"""``CCPAConsentState``, where the reference has it (``mparticle.models.ccpa_consent_state``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["CCPAConsentState"]


class CCPAConsentState(Model):
    """The CCPA data sale opt-out state (consented = opted out)."""

    _fields = fields("document consented timestamp_unixtime_ms location hardware_id")
