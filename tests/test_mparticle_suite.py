"""mParticle's own test suite (``test/`` of the ``mparticle`` 0.16.1 sdist) passes
against the drop-in with nothing but the ``mparticle`` alias (issue 22).

compat/run_mparticle_suite.py does the work; this test gives it the sdist
(``pip download``, served from pip's cache after the first run) and checks its counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "compat" / "run_mparticle_suite.py"


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    into = tmp_path_factory.mktemp("sdist")
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "mparticle==0.16.1", "--no-binary", ":all:", "--no-deps",
             "--disable-pip-version-check", "-q", "-d", str(into)],
            check=True, capture_output=True, timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot download mparticle's sdist from PyPI: {exc}")
    (found,) = into.glob("mparticle-0.16.1.tar.gz")
    return found


def test_every_test_of_mparticles_suite_passes(sdist: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--sdist", str(sdist)], capture_output=True, text=True,
                         timeout=120)
    assert "mparticle -> analytics_sdk.mparticle" in out.stdout  # the drop-in, not the installed reference
    assert "NOT PASSED" not in out.stdout, out.stdout
    assert "65 tests in 41 files; 0 files failed at import" in out.stdout, out.stdout + out.stderr
    assert "public API: 62/62 passed" in out.stdout
    assert "internal: 3/3 passed" in out.stdout
    assert out.returncode == 0
