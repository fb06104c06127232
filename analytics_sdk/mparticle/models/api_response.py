"""``ApiResponse``, where the reference has it (``mparticle.models.api_response``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ApiResponse"]


class ApiResponse(Model):
    """The errors of an Events API answer."""

    _fields = fields("errors")
