"""``ConsentState``, where the reference has it (``mparticle.models.consent_state``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ConsentState"]


class ConsentState(Model):
    """``ccpa`` ({"data_sale_opt_out": CCPAConsentState}) and ``gdpr`` ({purpose: GDPRConsentState})."""

    _fields = fields("ccpa gdpr")

    def __init__(self) -> None:
        super().__init__(ccpa={}, gdpr={})
