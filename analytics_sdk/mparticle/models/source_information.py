"""``SourceInformation``, where the reference has it (``mparticle.models.source_information``)."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["SourceInformation"]


class SourceInformation(Model):
    """Where a batch was produced (channel, partner, replay)."""

    _fields = fields("channel partner replay_request_id replay_job_id")
    _checks = {
        "channel": one_of("unknown", "native", "javascript", "pixel", "desktop", "partner", "server_to_server", "All"),
    }
