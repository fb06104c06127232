"""A local collector: the APIs of event backends on 127.0.0.1, stored in SQLite, watched in a browser.

For development, tests and demos: no account, no network. ``GET /`` is a live
event viewer; ``GET /v1/events``, ``/v1/rejections``, ``/v1/requests/<id>`` and
``/stats`` serve the same data as JSON. ``python -m analytics_sdk.devserver``
or ``analytics-sdk serve`` runs it; :class:`Collector` embeds it in tests.

Modules, one job each:

- ``formats/``: one module per backend API (``segment.py``, ``amplitude.py``,
  ``mparticle.py``; the last two fit the pure ``devtools/api_rules`` modules). A format owns
  its POST routes, where its credential travels, how a body becomes messages
  and what refuses the whole request, the per-message check (a rejection
  reason, or warnings about what the backend would change), the generic columns
  the viewer shows (type, user, what, library) and the response body.
- ``bodies.py``: bounded reading of Content-Length, chunked and gzip bodies.
- ``ingest.py``: a read body through a format into the store.
- ``store.py``: SQLite: accepted messages (deduplicated), rejections, requests.
- ``handler.py``: HTTP routes, read authentication, faults, the viewer's files.
- ``server.py``: :class:`Collector` (start/stop, connection limits, read-back).
- ``faults.py``: :class:`Faults`, failure injection for resilience tests.
- ``command.py``: the command-line flags and ``main``.

Adding a format: write ``formats/<name>.py`` with a :class:`formats.Format`
subclass (``name``, ``routes``, ``credential()``, ``messages()``, ``check()``,
``summarize()``, ``response()``; ``amplitude.py`` and ``mparticle.py`` show the
optional hooks) and register an instance in ``formats.builtin_formats()``.
Storage, limits, faults, counters, the viewer (its format column and filter)
and the read API need no change. Only a 2xx answer stores a request's messages.
"""

from __future__ import annotations

from .command import add_collector_arguments, main, run_collector
from .faults import Faults
from .formats.segment import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, MESSAGE_TYPES, validate_message
from .server import Collector, RequestLog
from .store import EventStore

# Older name of the flag helper, kept for callers outside the package.
_add_collector_arguments = add_collector_arguments

__all__ = ["Collector", "Faults", "EventStore", "validate_message", "main"]
