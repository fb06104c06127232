"""``ApiResponseErrors``, where the reference has it (``mparticle.models.api_response_errors``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ApiResponseErrors"]


class ApiResponseErrors(Model):
    """One error of an Events API answer."""

    _fields = fields("code message")
