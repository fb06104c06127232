"""The package's layering, read from the source: destinations import nothing from
delivery, and no private name is imported from another module."""

from __future__ import annotations

import ast
import pathlib
from typing import Iterator, Tuple

import analytics_sdk

PACKAGE = pathlib.Path(analytics_sdk.__file__).parent


def imports(folder: str) -> Iterator[Tuple[str, str, str]]:
    """(file, module imported from, name) of every ``from ... import`` in ``folder``."""
    for path in sorted((PACKAGE / folder).glob("*.py")):
        package = f"analytics_sdk.{folder}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                for alias in node.names:
                    yield path.name, module, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.name, alias.name, ""


def test_destinations_import_nothing_from_delivery():
    found = [(f, m) for f, m, _ in imports("wire") if m.startswith("analytics_sdk.delivery")]
    assert found == []


def test_no_private_name_crosses_modules_in_delivery_and_destinations():
    found = [
        (f, m, name)
        for folder in ("delivery", "wire")
        for f, m, name in imports(folder)
        if name.startswith("_") and m.startswith("analytics_sdk")
    ]
    assert found == []
