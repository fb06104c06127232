"""The drop-in has the reference's module paths (issue 22, section 3).

mParticle's own suite and users' code import ``mparticle.models.app_event``,
``mparticle.apis.events_api``, ``mparticle.api_client``, ``mparticle.configuration``
and ``mparticle.rest``; with ``mparticle`` aliased to ``analytics_sdk.mparticle``
those must be the drop-in's modules. The installed reference package is the list
of what must exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

import mparticle as reference
import pytest

import analytics_sdk.mparticle as ours
from analytics_sdk.devtools.api_rules.mparticle import Settings

from .mparticle_sink import Sink

REPO = Path(__file__).resolve().parent.parent
SHIM = REPO / "compat" / "mparticle"

# The reference's urllib3 client; uploads go through our transport instead
# (docs/migrating/mparticle.md lists it). Everything else the reference defines, we define.
NOT_PROVIDED = {"mparticle.rest.RESTClientObject"}


def reference_modules() -> List[str]:
    names = ["mparticle"]
    names += [info.name for info in pkgutil.walk_packages(reference.__path__, "mparticle.")]
    return sorted(names)


def test_the_reference_has_what_this_test_expects() -> None:
    # Guards the test itself: a different reference would make the loop below vacuous.
    modules = reference_modules()
    assert {"mparticle.models.app_event", "mparticle.apis.events_api", "mparticle.api_client",
            "mparticle.configuration", "mparticle.rest", "mparticle.models.data_plan_context"} <= set(modules)
    assert sum(name.startswith("mparticle.models.") for name in modules) == 39


@pytest.mark.parametrize("name", reference_modules())
def test_every_reference_module_exists_and_defines_its_classes(name: str) -> None:
    mine = importlib.import_module("analytics_sdk." + name)
    theirs = importlib.import_module(name)
    for attr, value in vars(theirs).items():
        if not inspect.isclass(value) or value.__module__ != name or f"{name}.{attr}" in NOT_PROVIDED:
            continue
        cls = getattr(mine, attr, None)
        assert inspect.isclass(cls), f"analytics_sdk.{name} has no class {attr}"
        if name.startswith("mparticle.models."):
            # Defined there (repr, pickling and tracebacks name the reference's module).
            assert cls.__module__ == "analytics_sdk." + name


def test_a_bare_import_reaches_every_submodule() -> None:
    # As with the reference: ``import mparticle`` and then ``mparticle.models.batch.Batch``
    # (the suite's style). A fresh interpreter, so nothing imported by other tests helps.
    modules = [name[len("mparticle."):] for name in reference_modules() if name != "mparticle"]
    code = textwrap.dedent(f"""
        import analytics_sdk.mparticle as mp
        for path in {modules!r}:
            node = mp
            for part in path.split("."):
                node = getattr(node, part)
        plan = mp.models.data_plan_context.DataPlanContext("plan", 3)
        print(mp.models.batch.Batch(context=mp.models.batch_context.BatchContext(plan)).to_dict()["context"])
        print(mp.apis.events_api.EventsApi is mp.EventsApi, mp.api_client.ApiClient is mp.ApiClient)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["{'data_plan': {'plan_id': 'plan', 'plan_version': 3}}", "True True"]


def test_one_models_package_and_one_class_per_name() -> None:
    assert importlib.util.find_spec("analytics_sdk.mparticle.model") is None  # no model.py beside models/
    assert hasattr(ours.models, "__path__")
    for name in ours.models.__all__:
        value = getattr(ours, name)
        if inspect.isclass(value):
            module = importlib.import_module(value.__module__)
            assert getattr(module, name) is value is getattr(ours.models, name)
    assert ours.DataPlanContext is ours.models.data_plan_context.DataPlanContext


UUID_CASES = [
    None, "", "this is not valid", "a8098c1z-f86e-11da-bd1a-00112444be1e", "a8098c1a-f86e-11da-bd1a-00112444be1e",
    "A8098C1A-F86E-11DA-BD1A-00112444BE1E", "a8098c1af86e11dabd1a00112444be1e",
    "{a8098c1a-f86e-11da-bd1a-00112444be1e}", "urn:uuid:a8098c1a-f86e-11da-bd1a-00112444be1e",
]


@pytest.mark.parametrize("value", UUID_CASES)
def test_validate_uuid_like_the_reference(value: Any) -> None:
    theirs = reference.models.device_information.DeviceInformation().validateUUID(value)
    mine = ours.models.device_information.DeviceInformation().validateUUID(value)
    assert (mine is None) == (theirs is None)
    if theirs is not None:
        assert type(mine) is type(theirs) and str(mine) == str(theirs)


def test_validate_uuid_returns_what_the_setter_refuses() -> None:
    device = ours.DeviceInformation()
    assert device.validateUUID(12) is not None  # the reference raises AttributeError here; we return it
    with pytest.raises(ValueError, match="ios_idfv"):
        device.ios_idfv = "not-a-uuid"


def batch_from_module_paths(root: str) -> Any:
    """A batch written with the reference's per-model imports (user code and the suite's style)."""
    m = importlib.import_module(root + ".models")
    for part in ("batch", "batch_context", "data_plan_context", "app_event", "user_identities",
                 "device_information", "screen_view_event"):
        importlib.import_module(f"{root}.models.{part}")
    batch = m.batch.Batch(environment="production", context=m.batch_context.BatchContext(
        m.data_plan_context.DataPlanContext("checkout_plan", 2)))
    batch.mpid = 600868121729048600
    batch.mp_deviceid = "59780f39-d7a0-4ebe-9950-280f937c29e2"
    batch.integration_attributes = {"123": {"someIntegrationAttribute": "value"}}
    batch.user_identities = m.user_identities.UserIdentities(customerid="u-1", other_id_2="o2", phone_number_3="+1")
    batch.device_info = m.device_information.DeviceInformation(
        ios_idfv="A8098C1A-F86E-11DA-BD1A-00112444BE1E", platform="iOS")
    event = m.app_event.AppEvent(event_name="Checkout", custom_event_type="transaction",
                                 custom_attributes={"k": "v"}, custom_flags={"flag": ["a", "b"]})
    batch.events = [event, m.screen_view_event.ScreenViewEvent(screen_name="Cart")]
    return batch


def test_a_batch_built_from_module_paths_is_sent_like_the_reference() -> None:
    bodies = {}
    with Sink(Settings(keys={"key-1": "secret-1"})) as sink:
        for root in ("mparticle", "analytics_sdk.mparticle"):
            mp = importlib.import_module(root)
            config = mp.configuration.Configuration()
            config.api_key, config.api_secret, config.host = "key-1", "secret-1", sink.url + "/v2"
            api = mp.apis.events_api.EventsApi(config)
            assert api.upload_events(batch_from_module_paths(root))[1] == 202
            bodies[root] = sink.requests[-1].json()
    mine = bodies["analytics_sdk.mparticle"]
    assert "-" in mine.pop("source_request_id")  # ours: so a resend is deduplicated
    assert mine == bodies["mparticle"]
    assert mine["context"] == {"data_plan": {"plan_id": "checkout_plan", "plan_version": 2}}


def run_with_alias(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SHIM), str(REPO)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=str(SHIM), timeout=60)


def test_the_alias_shim_is_only_an_alias() -> None:
    out = run_with_alias("""
        import sys
        import mparticle
        import mparticle.models.app_event
        from mparticle.apis.events_api import EventsApi
        from mparticle.models.batch import Batch
        from mparticle.rest import ApiException
        import analytics_sdk.mparticle as ours
        assert mparticle is ours
        assert sys.modules["mparticle.models.app_event"] is ours.models.app_event
        assert EventsApi is ours.EventsApi and Batch is ours.Batch and ApiException is ours.rest.ApiException
        assert mparticle.models.data_plan_context.DataPlanContext is ours.DataPlanContext
        try:
            import mparticle.no_such_module
        except ModuleNotFoundError as exc:
            print("missing:", exc.name)
        # Nothing of the installed reference was loaded.
        print(sorted(m.__file__ for m in list(sys.modules.values())
                     if "site-packages/mparticle" in (getattr(m, "__file__", None) or "")))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["missing: mparticle.no_such_module", "[]"]
