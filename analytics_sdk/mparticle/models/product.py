"""``Product``, where the reference has it (``mparticle.models.product``)."""

from __future__ import annotations

from .base import Model, attribute_bag, fields

__all__ = ["Product"]


class Product(Model):
    """A product of a commerce event."""

    _fields = fields(
        "id name brand category variant position price quantity coupon_code "
        "added_to_cart_time_ms total_product_amount custom_attributes"
    )
    _checks = {"custom_attributes": attribute_bag}
