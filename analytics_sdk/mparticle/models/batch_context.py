"""``BatchContext``, where the reference has it (``mparticle.models.batch_context``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["BatchContext"]


class BatchContext(Model):
    """A batch's context: its data plan."""

    _fields = fields("data_plan")
