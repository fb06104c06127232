"""``CrashReportEvent``, where the reference has it (``mparticle.models.crash_report_event``)."""

from __future__ import annotations

from .base import fields
from .event_data import EventData

__all__ = ["CrashReportEvent"]


class CrashReportEvent(EventData):
    """A crash (sent as ``crash_report``)."""

    _fields = EventData._fields + fields(
        "breadcrumbs class_name severity message stack_trace exception_handled topmost_context "
        "pl_crash_report_file_base64 ios_image_base_address ios_image_size session_number"
    )
