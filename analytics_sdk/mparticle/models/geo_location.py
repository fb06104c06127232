"""``GeoLocation``, where the reference has it (``mparticle.models.geo_location``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["GeoLocation"]


class GeoLocation(Model):
    """Where an event happened."""

    _fields = fields("latitude longitude accuracy")
