"""``DataPlanContext``, where the reference has it (``mparticle.models.data_plan_context``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["DataPlanContext"]


class DataPlanContext(Model):
    """The data plan (id, version) a batch is checked against."""

    _fields = fields("plan_id plan_version")
