"""``ApplicationInformation``, where the reference has it (``mparticle.models.application_information``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["ApplicationInformation"]


class ApplicationInformation(Model):
    """The app a batch comes from."""

    _fields = fields("application_name application_version install_referrer package")
