"""``ProductAction``, where the reference has it (``mparticle.models.product_action``)."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["ProductAction"]


class ProductAction(Model):
    """What a commerce event did with its products (purchase, refund ...)."""

    _fields = fields(
        "action checkout_step checkout_options product_action_list product_list_source "
        "transaction_id affiliation total_amount tax_amount shipping_amount coupon_code products"
    )
    _checks = {
        "action": one_of(
            "unknown", "add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail",
            "purchase", "refund", "add_to_wishlist", "remove_from_wish_list",
        ),
    }
