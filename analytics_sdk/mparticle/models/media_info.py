"""``MediaInfo``, where the reference has it (``mparticle.models.media_info``)."""

from __future__ import annotations

from .base import Model, fields, one_of

__all__ = ["MediaInfo"]


class MediaInfo(Model):
    """The media an event is about (action, format, quality, position)."""

    _fields = fields("action channel metadata timed_metadata playback_position format quality playback_rate")
    _checks = {
        "action": one_of("unknown", "play", "stop", "update_playback_position", "skip", "rate"),
        "format": one_of("unknown", "audio", "video"),
        "quality": one_of("unknown", "low", "sd", "medium", "hd", "ultra_hd"),
    }
