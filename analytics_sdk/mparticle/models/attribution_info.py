"""``AttributionInfo``, where the reference has it (``mparticle.models.attribution_info``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["AttributionInfo"]


class AttributionInfo(Model):
    """The attribution of a user (provider, publisher, campaign)."""

    _fields = fields("service_provider publisher campaign")
