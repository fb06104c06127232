"""``CommerceEvent``, where the reference has it (``mparticle.models.commerce_event``)."""

from __future__ import annotations

from typing import Any

from .base import fields
from .event_data import EventData

__all__ = ["CommerceEvent"]


class CommerceEvent(EventData):
    """A commerce event: one of ``product_action``, ``promotion_action``, ``product_impressions``."""

    _fields = (
        fields("product_action")
        + EventData._fields
        + fields("promotion_action product_impressions shopping_cart currency_code screen_name is_non_interactive "
                 "custom_flags")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.product_action is None and self.product_impressions is None and self.promotion_action is None:
            raise ValueError(
                "CommerceEvent: one of product_action, product_impressions or promotion_action is required"
            )
