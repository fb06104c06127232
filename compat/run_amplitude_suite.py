"""Run Amplitude-Python's own test suite against ``analytics_sdk.amplitude``.

    python compat/run_amplitude_suite.py /path/to/Amplitude-Python      # a checkout of tag v1.2.3

It copies the checkout's ``src/test`` (the tests only: the reference's ``src/amplitude``
stays behind) to a temporary directory and runs it with pytest and
``compat/amplitude/amplitude_shim.py``, which makes ``amplitude`` and its submodules
*be* ``analytics_sdk.amplitude`` (no reference code is importable, even when
``amplitude-analytics`` is installed). Each test is then classed as:

* ``public``: the API user code calls (events, Identify, Revenue, Plan, Config,
  the client's constructor). Every one must pass: the exit status is 1 otherwise.
* ``mocked-http``: drives the client through a replaced
  ``amplitude.http_client.HttpClient.post`` (what users' own tests do too).
* ``internals``: the reference's machinery (Workers, InMemoryStorage's queue,
  ResponseProcessor, Timeline, the default plugins, ``utils``, private attributes).

Nothing of Amplitude's code is copied into this repository; fetch it yourself::

    git clone https://github.com/amplitude/Amplitude-Python && git -C Amplitude-Python checkout v1.2.3
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPECTED_VERSION = "1.2.3"

# Why a test is not "public": the file's subject, or (test name -> reason) exceptions.
INTERNAL_FILES = {
    "test_worker.py": "amplitude.worker.Workers (the reference's sender threads)",
    "test_storage.py": "InMemoryStorage's queue and retry delays",
    "test_processor.py": "amplitude.processor.ResponseProcessor",
    "test_timeline.py": "amplitude.timeline.Timeline",
    "test_plugin.py": "the default AmplitudeDestinationPlugin/ContextPlugin and Amplitude._Amplitude__timeline",
    "test_utils.py": "amplitude.utils helpers",
}
INTERNAL_TESTS = {
    "test_config_flush_queue_size_decrease_and_reset_success": "Config._increase_flush_divider (private)",
    "test_config_flush_queue_size_set_value_success": "Config._increase_flush_divider (private)",
    "test_config_flush_queue_size_decrease_no_less_than_one": "Config._increase_flush_divider (private)",
    "test_amplitude_add_remove_plugins_success": "Amplitude._Amplitude__timeline (private)",
}


def category(file: str, source: str) -> Tuple[str, str]:
    """(category, reason) of one test, from its file and its source text."""
    if file in INTERNAL_FILES:
        return "internals", INTERNAL_FILES[file]
    name = re.search(r"def (\w+)", source).group(1)  # type: ignore[union-attr]
    if name in INTERNAL_TESTS:
        return "internals", INTERNAL_TESTS[name]
    if "HttpClient.post" in source:
        return "mocked-http", "replaces amplitude.http_client.HttpClient.post"
    return "public", ""


def collect(test_dir: Path) -> Dict[Tuple[str, str], Tuple[str, str]]:
    """Every test of the suite (found by reading the files, not importing them) -> its category."""
    tests = {}
    for path in sorted(test_dir.glob("test_*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                        source = ast.get_source_segment(text, item) or ""
                        tests[(path.name, item.name)] = category(path.name, source)
    return tests


def results(junit: Path) -> Dict[Tuple[str, str], str]:
    """(file, test) -> passed/failed/skipped, from pytest's JUnit XML."""
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        parts = classname.split(".")
        module = next((p for p in parts if p.startswith("test_")), None)
        if module is None:
            continue
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped":
                state = "skipped"
        key = (module + ".py", re.sub(r"\[.*\]$", "", name))
        if outcome.get(key) != "failed":  # a subTest failure or a teardown error marks the test failed
            outcome[key] = state
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="an Amplitude-Python checkout (tag v1.2.3)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter with analytics_sdk installed")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every test")
    args = parser.parse_args()
    source_tests = args.checkout / "src" / "test"
    if not source_tests.is_dir():
        parser.error(f"{source_tests} does not exist: give the root of an Amplitude-Python checkout")
    constants = args.checkout / "src" / "amplitude" / "constants.py"
    found = re.search(r'SDK_VERSION = "([^"]+)"', constants.read_text()) if constants.exists() else None
    version = found.group(1) if found else "unknown"
    if version != EXPECTED_VERSION:
        print(f"warning: the checkout is version {version}; the counts in the docs are for v{EXPECTED_VERSION}")

    with tempfile.TemporaryDirectory(prefix="amplitude-suite-") as tmp:
        work = Path(tmp)
        shutil.copytree(source_tests, work / "test")  # the tests alone: src/amplitude stays behind
        junit = work / "junit.xml"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE / "amplitude"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [
            args.python, "-m", "pytest", "test", "-p", "amplitude_shim", "-p", "no:cacheprovider",
            "-q", "-rN", "--tb=line", "--continue-on-collection-errors", "-o", "addopts=", "--timeout=60", f"--junitxml={junit}",
            f"--rootdir={work}", "-c", os.devnull,
        ]
        print("$", " ".join(command), flush=True)
        run = subprocess.run(command, cwd=work, env=env)
        if not junit.exists():
            print("pytest wrote no results", file=sys.stderr)
            return 2
        tests = collect(work / "test")
        outcome = results(junit)

    counts: Dict[str, Dict[str, int]] = {}
    failed_public: List[str] = []
    for (file, name), (kind, reason) in sorted(tests.items()):
        state = outcome.get((file, name), "not run (import failed)")
        bucket = counts.setdefault(kind, {})
        bucket[state] = bucket.get(state, 0) + 1
        if args.verbose:
            print(f"  {kind:12} {state:8} {file}::{name}" + (f"  ({reason})" if reason else ""))
        if kind == "public" and state != "passed":
            failed_public.append(f"{file}::{name} ({state})")

    print(f"\nAmplitude-Python v{version} test suite against analytics_sdk.amplitude ({len(tests)} tests):")
    for kind in ("public", "mocked-http", "internals"):
        bucket = counts.get(kind, {})
        total = sum(bucket.values())
        detail = ", ".join(f"{n} {state}" for state, n in sorted(bucket.items()) if state != "passed")
        print(f"  {kind:12} {bucket.get('passed', 0):3} of {total:3} passed" + (f" ({detail})" if detail else ""))
    if failed_public:
        print("\npublic-API tests that do not pass:")
        for line in failed_public:
            print("  " + line)
    if run.returncode == 3:
        print("the shim found reference modules loaded: the counts are void", file=sys.stderr)
        return 3
    return 1 if failed_public else 0


if __name__ == "__main__":
    sys.exit(main())
