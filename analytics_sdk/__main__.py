"""``python -m analytics_sdk`` runs the ``analytics-sdk`` command."""

from .devtools.cli import main

raise SystemExit(main())
