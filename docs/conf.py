"""Sphinx configuration of the docs site (``make docs``; docs/README.md says why Sphinx)."""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import analytics_sdk  # noqa: E402  (installed into the docs venv with ``pip install -e .``)

project = "analytics-sdk"
author = "analytics-sdk contributors"
copyright = "analytics-sdk contributors"
release = analytics_sdk.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "generated_pages",  # docs/_ext: the settings reference and the benchmark table, built from the code
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "README.md", "requirements.txt"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}

html_theme = "furo"
html_title = f"analytics-sdk {release}".strip()
html_static_path: list = []
