"""``ShoppingCart``, where the reference has it (``mparticle.models.shopping_cart``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ShoppingCart"]


class ShoppingCart(Model):
    """The products in a cart."""

    _fields = fields("products")
