"""``PromotionAction``, where the reference has it (``mparticle.models.promotion_action``)."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["PromotionAction"]


class PromotionAction(Model):
    """A view or click of promotions."""

    _fields = fields("action promotions")
    _checks = {"action": one_of("unknown", "view", "click")}
