"""``Promotion``, where the reference has it (``mparticle.models.promotion``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["Promotion"]


class Promotion(Model):
    """An internal promotion (id, name, creative, position)."""

    _fields = fields("id name creative position")
