"""The whole test suite on every supported Python: ``make test-all`` (CI runs it too).

Each session installs the package with ``pip install -e '.[test]'`` into a fresh
stdlib ``venv``, so with the pip that interpreter bundles, as on a fresh machine,
then runs the whole suite (with tests/test_resource_warnings.py, which runs a
client that forks under ``-X dev -W error::ResourceWarning`` on that Python).
Interpreters are looked up on PATH; where pyenv is installed, its folders for
these versions are put first (``pyenv prefix 3.9`` and so on).

``nox -s tests-3.12`` runs one version; arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True  # a Python CI cannot find is a failure, not a skip


def _pyenv_bin_dirs() -> list[str]:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    dirs = []
    for version in PYTHONS:
        try:
            prefix = subprocess.run(
                [pyenv, "prefix", version], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if prefix and os.path.isdir(os.path.join(prefix, "bin")):
            dirs.append(os.path.join(prefix, "bin"))
    return dirs


os.environ["PATH"] = os.pathsep.join([*_pyenv_bin_dirs(), os.environ.get("PATH", "")])


@nox.session(python=PYTHONS, venv_backend="venv")
def tests(session: nox.Session) -> None:
    # The bundled pip, not an upgraded one: what a user's fresh venv has.
    session.run("python", "-m", "pip", "--version")
    session.install("--disable-pip-version-check", "-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)
