"""pytest plugin: run amplitude-analytics' own tests against ``analytics_sdk.amplitude``.

Loaded with ``-p amplitude_shim`` (``compat/run_amplitude_suite.py`` does it). It
makes ``amplitude`` and every ``amplitude.<name>`` *be* ``analytics_sdk.amplitude``
and ``analytics_sdk.amplitude.<name>``: nothing else. A submodule the drop-in does
not have fails to import, so no reference code (from a checkout or from an
installed ``amplitude-analytics``) can fill in; the session ends with a check that
every ``amplitude*`` module loaded came from ``analytics_sdk.amplitude``.

It also refuses name lookups of any host but the loopback, so a test that would
reach Amplitude's servers fails at once instead (the suite's own mocks of
``HttpClient.post`` are the only thing standing between some tests and the
internet).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import socket
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

ALIAS = "amplitude"
TARGET = "analytics_sdk.amplitude"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "", None}


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``amplitude[.x]`` -> the module object ``analytics_sdk.amplitude[.x]`` (the same object)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS):]
        try:
            importlib.import_module(real)
        except ModuleNotFoundError as exc:
            if exc.name != real:
                raise
            # Raised, not None: no later finder may supply the reference's module.
            raise ModuleNotFoundError(f"No module named {fullname!r} ({real} does not exist)", name=fullname) from None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=hasattr(sys.modules[real], "__path__"))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return sys.modules[TARGET + spec.name[len(ALIAS):]]

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its real name


def install() -> None:
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        del sys.modules[name]
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name not in LOOPBACK and not str(name).startswith("127."):
        raise socket.gaierror(socket.EAI_NONAME, f"amplitude_shim: no traffic to {name!r} (loopback only)")
    return _real_getaddrinfo(host, *args, **kwargs)


install()
socket.getaddrinfo = _loopback_only


def foreign_modules() -> list:
    """Loaded ``amplitude*`` modules that are not the drop-in's."""
    return sorted(
        name for name, module in list(sys.modules.items())
        if (name == ALIAS or name.startswith(ALIAS + ".")) and module is not None
        and not getattr(module, "__name__", "").startswith(TARGET)
    )


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    foreign = foreign_modules()
    loaded = sorted(n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + "."))
    if foreign:
        print(f"\namplitude_shim: FOREIGN amplitude modules were loaded: {foreign}", file=sys.stderr)
        session.exitstatus = 3
    else:
        print(f"\namplitude_shim: {len(loaded)} amplitude module(s) loaded, every one from {TARGET}: {', '.join(loaded)}")
