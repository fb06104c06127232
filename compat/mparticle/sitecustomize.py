"""The only shim mParticle's own suite runs through: ``mparticle`` is ``analytics_sdk.mparticle``.

Put this directory first on ``PYTHONPATH`` and every ``import mparticle`` and
``import mparticle.<anything>`` gets the drop-in's module of the same path (the
same module object, not a copy), or ModuleNotFoundError if the drop-in has none.
Nothing else is lent to the drop-in: no module, class or constant of mParticle's.
compat/run_mparticle_suite.py uses it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

ALIAS = "mparticle"
TARGET = "analytics_sdk.mparticle"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        # The drop-in's own module: sys.modules["mparticle.x"] is analytics_sdk.mparticle.x.
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its own name


class MParticleAlias(importlib.abc.MetaPathFinder):
    """Resolves ``mparticle[.sub]`` to ``analytics_sdk.mparticle[.sub]`` before any other finder."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None) -> Any:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS):]
        if real not in sys.modules:
            try:
                found = importlib.util.find_spec(real)
            except ImportError:  # e.g. the parent is a module, not a package
                found = None
            if found is None:
                return None  # the drop-in has no such module: a plain ModuleNotFoundError
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


def install() -> None:
    if not any(isinstance(finder, MParticleAlias) for finder in sys.meta_path):
        sys.meta_path.insert(0, MParticleAlias())


install()
