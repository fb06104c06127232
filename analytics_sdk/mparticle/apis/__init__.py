"""``mparticle.apis``: where the reference keeps ``EventsApi``."""

from __future__ import annotations

from .events_api import EventsApi

__all__ = ["EventsApi"]
