#!/usr/bin/env python3
"""Run mParticle's own test suite (``test/`` of the ``mparticle`` sdist) against the drop-in.

    .venv/bin/python compat/run_mparticle_suite.py [--version 0.16.1] [--sdist PATH] [--keep]

Downloads the sdist from PyPI with ``pip download`` (or takes ``--sdist``),
unpacks only its ``test/`` folder into a temporary directory (their package is
never importable there, and nothing of theirs is committed here), and runs it
with pytest, with ``compat/mparticle`` first on PYTHONPATH: its sitecustomize
maps ``mparticle`` and every ``mparticle.<sub>`` onto ``analytics_sdk.mparticle``
and lends nothing else. Prints every test that did not pass, then the counts for
the public API and for the generated client's internals; exits 1 when a
public-API test fails.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Set, Tuple

HERE = Path(__file__).resolve().parent
SHIM = HERE / "mparticle"
REPO = HERE.parent

# Tests of helpers of the swagger-generated code that mParticle's README does not
# document (ApiClient's serialization helpers, the UUID helper of DeviceInformation).
# The drop-in passes them too; they are counted apart so the public-API figure means
# what user code relies on.
INTERNAL = {
    "test_api_client.py::TestApiClient::test_validate_custom_attributes",
    "test_api_client.py::TestApiClient::test_sanitize_for_serialization",
    "test_device_information.py::TestDeviceInformation::testValidateUUID",
}


def download(version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"mparticle=={version}", "--no-binary", ":all:", "--no-deps",
         "--disable-pip-version-check", "-q", "-d", str(into)],
        check=True,
    )
    found = sorted(into.glob("mparticle-*.tar.gz"))
    if not found:
        raise SystemExit(f"pip download left no mparticle sdist in {into}")
    return found[0]


def unpack_tests(sdist: Path, into: Path) -> Path:
    """Only ``<root>/test/*`` of the sdist, as ``into/test``."""
    target = into / "test"
    target.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "test" and member.isfile() and parts[2].endswith(".py"):
                source = tar.extractfile(member)
                assert source is not None
                (target / parts[2]).write_bytes(source.read())
    if not any(target.glob("test_*.py")):
        raise SystemExit(f"{sdist} has no test/ folder")
    return target


def expected_tests(test_dir: Path) -> Set[str]:
    """Every test the suite defines (read from the source, so a file that fails at import still counts)."""
    found = set()
    for path in sorted(test_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                        found.add(f"{path.name}::{node.name}::{item.name}")
    return found


def run_pytest(work: Path, env: Dict[str, str]) -> Tuple[Dict[str, str], int]:
    report = work / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", "--rootdir", str(work),
         f"--junitxml={report}", "test"],
        cwd=work, env=env, capture_output=True, text=True,
    )
    outcomes: Dict[str, str] = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            classname = case.get("classname", "")  # test.test_batch.TestBatch
            parts = classname.split(".")
            if len(parts) < 3:
                continue  # a collection error: its tests are missing from the outcomes
            test_id = f"{parts[-2]}.py::{parts[-1]}::{case.get('name')}"
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                if case.find(tag) is not None:
                    outcome = tag
            outcomes[test_id] = outcome
    if proc.returncode not in (0, 1):
        sys.stdout.write(proc.stdout[-4000:])
        sys.stderr.write(proc.stderr[-4000:])
    return outcomes, proc.returncode


def check_alias(env: Dict[str, str], work: Path) -> None:
    """The suite must see the drop-in, never an installed mparticle."""
    probe = (
        "import mparticle, mparticle.models, analytics_sdk.mparticle as ours\n"
        "assert mparticle is ours, mparticle.__file__\n"
        "print(mparticle.__name__, mparticle.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the alias does not resolve to analytics_sdk.mparticle:\n{out.stderr}")
    print(f"mparticle -> {out.stdout.strip()}")


def summarize(expected: Set[str], outcomes: Dict[str, str]) -> Dict[str, Tuple[int, int]]:
    groups: Dict[str, List[str]] = {"public API": [], "internal": []}
    for test_id in sorted(expected):
        groups["internal" if test_id in INTERNAL else "public API"].append(test_id)
    counts = {}
    for group, ids in groups.items():
        passed = sum(1 for test_id in ids if outcomes.get(test_id) == "passed")
        counts[group] = (passed, len(ids))
    return counts


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="0.16.1", help="mparticle version on PyPI (default 0.16.1)")
    parser.add_argument("--sdist", type=Path, help="an mparticle sdist already downloaded (no network)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="mparticle-suite-"))
    try:
        sdist = args.sdist.resolve() if args.sdist else download(args.version, work / "sdist")
        test_dir = unpack_tests(sdist, work)
        expected = expected_tests(test_dir)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        env.pop("PYTEST_ADDOPTS", None)
        check_alias(env, work)
        outcomes, _ = run_pytest(work, env)

        not_passed = sorted(t for t in expected if outcomes.get(t) != "passed")
        for test_id in not_passed:
            print(f"NOT PASSED ({outcomes.get(test_id, 'not run: its file failed at import')}): {test_id}")
        files = {t.split("::")[0] for t in expected}
        failed_import = {t.split("::")[0] for t in expected if t not in outcomes}
        counts = summarize(expected, outcomes)
        print(f"{sdist.name}: {len(expected)} tests in {len(files)} files; "
              f"{len(failed_import)} files failed at import")
        for group, (passed, total) in counts.items():
            print(f"{group}: {passed}/{total} passed")
        public_passed, public_total = counts["public API"]
        return 0 if public_passed == public_total else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
