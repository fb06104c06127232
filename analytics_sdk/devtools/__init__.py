"""Developer tools, apart from the SDK core: the ``analytics-sdk`` CLI, the local collector,
testing helpers and the pytest plugin, and the demo."""
