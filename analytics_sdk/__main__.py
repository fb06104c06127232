"""``python -m analytics_sdk`` runs the ``analytics-sdk`` command."""

from .cli import main

raise SystemExit(main())
