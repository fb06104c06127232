"""The pytest plugin under its documented name (it lives in :mod:`analytics_sdk.devtools.pytest_plugin`).

Registered through the ``pytest11`` entry point; ``pytest_plugins = ["analytics_sdk.pytest_plugin"]``
in a conftest keeps working too.
"""

from __future__ import annotations

from .devtools.pytest_plugin import analytics_events

__all__ = ["analytics_events"]
