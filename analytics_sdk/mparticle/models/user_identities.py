"""``UserIdentities``, where the reference has it (``mparticle.models.user_identities``)."""

from __future__ import annotations

from .base import Model, fields

__all__ = ["UserIdentities"]


class UserIdentities(Model):
    """A user's identities (``customerid``, as the reference spells it, email, other ids)."""

    _fields = fields(
        "other customerid facebook twitter google microsoft yahoo email alias "
        "facebook_custom_audience_id other_id_2 other_id_3 other_id_4 other_id_5 other_id_6 "
        "other_id_7 other_id_8 other_id_9 other_id_10 mobile_number phone_number_2 "
        "phone_number_3"
    )
