"""Segment's own public-API tests, run against analytics_sdk.

The test files ship in the ``segment-analytics-python`` wheel (a test-only
dependency). We change only what a migrating user changes: the import, plus the
library name Segment's tests expect in ``context.library``; the default host is
redirected to a loopback collector. The tests that reach into Segment's private
internals (its ``Consumer`` threads, patched module functions) are listed below
and must fail, so this test notices if anything else starts or stops passing.
"""

from __future__ import annotations

import importlib.util
import pathlib
import types
import unittest

import pytest

import analytics_sdk
from analytics_sdk.wire import segment as segment_destination

SEGMENT_TESTS = ("test_client", "test_module", "test_init")

# name -> why it cannot pass without copying Segment's internals
REACHES_INTO_INTERNALS = {
    "test_init.TestInit.test_max_retries": "reads client.consumers[i].retries",
    "test_client.TestClient.test_user_defined_timeout": "reads client.consumers[i].timeout",
    "test_client.TestClient.test_default_timeout_15": "reads client.consumers[i].timeout",
    "test_client.TestClient.test_shutdown": "reads client.consumers[i].is_alive()",
    "test_client.TestClient.test_synchronous": "reads client.consumers",
    "test_client.TestClient.test_user_defined_upload_size": "patches segment.analytics.consumer.post",
    "test_client.TestClient.test_proxies": "patches segment.analytics.request._session",
}


def _segment_test_dir() -> pathlib.Path:
    spec = importlib.util.find_spec("segment.analytics")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segment-analytics-python is not installed (it is in the 'test' extra)")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "test"


def _load(name: str, directory: pathlib.Path) -> types.ModuleType:
    source = (directory / f"{name}.py").read_text()
    source = (
        source.replace("import segment.analytics as analytics", "import analytics_sdk as analytics")
        .replace("from segment.analytics.client import Client", "from analytics_sdk import Client")
        .replace("from segment.analytics.version import VERSION", "from analytics_sdk.version import VERSION")
        .replace('"analytics-python"', '"analytics-sdk-python"')
    )
    leftover = [line for line in source.splitlines() if line.lstrip().startswith(("import segment", "from segment"))]
    assert not leftover, f"{name}: an import was not aliased: {leftover}"
    module = types.ModuleType(f"segment_yardstick_{name}")
    exec(compile(source, str(directory / f"{name}.py"), "exec"), module.__dict__)
    return module


def test_segments_public_api_tests_pass_against_analytics_sdk(collector, monkeypatch):
    directory = _segment_test_dir()
    monkeypatch.setattr(segment_destination, "DEFAULT_HOST", collector.url)
    saved = {name: getattr(analytics_sdk, name) for name in analytics_sdk.settings.DEFAULTS}
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for name in SEGMENT_TESTS:
        module = _load(name, directory)
        for case in loader.loadTestsFromModule(module):
            suite.addTest(case)
    result = unittest.TestResult()
    try:
        with pytest.warns(RuntimeWarning):  # Segment's tests change settings on a live default client
            suite.run(result)
    finally:
        analytics_sdk.shutdown(timeout=1)
        for name, value in saved.items():
            setattr(analytics_sdk, name, value)

    def short(test) -> str:
        module, cls, method = test.id().rsplit(".", 2)
        return f"{module.replace('segment_yardstick_', '')}.{cls}.{method}"

    failed = {short(test): text for test, text in result.failures + result.errors}
    assert result.testsRun >= 40
    unexpected = {k: v for k, v in failed.items() if k not in REACHES_INTO_INTERNALS}
    assert not unexpected, "\n\n".join(f"{k}:\n{v}" for k, v in unexpected.items())
    assert set(failed) == set(REACHES_INTO_INTERNALS), "these now pass: " + str(set(REACHES_INTO_INTERNALS) - set(failed))
    # and every message those tests sent went to the loopback collector only
    assert collector.summary()["stored"] > 1000
