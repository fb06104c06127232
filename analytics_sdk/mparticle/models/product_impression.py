"""``ProductImpression``, where the reference has it (``mparticle.models.product_impression``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ProductImpression"]


class ProductImpression(Model):
    """Products seen in a list."""

    _fields = fields("product_impression_list products")
