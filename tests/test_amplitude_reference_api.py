"""Issue 22, section 2: what amplitude-analytics' own test suite found, each item
checked here against the reference package itself (installed in the test extras):

* ``IdentifyEvent``/``GroupIdentifyEvent`` take ``identify_obj``;
* ``Identify`` logs and ignores what it cannot take, never raises;
* property dicts Amplitude cannot take are left out (logged), objects of more than
  1,024 keys go as ``{}``: the same wire as the reference;
* ``get_event_body()`` is what is sent;
* errors the reference logs on ``Config.logger`` go there; ``event.retry`` counts resends;
* the reference's module paths, and the compat shim that runs its suite.

Every request stays on 127.0.0.1.
"""

from __future__ import annotations

import enum
import importlib
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import analytics_sdk.amplitude as ours

from .amplitude_sink import Sink
from .test_amplitude_config import wait_until

theirs = pytest.importorskip("amplitude")

ROOT = Path(__file__).resolve().parent.parent
FILLED_BY_SDK = ("insert_id", "time", "library")


class Color(enum.Enum):
    RED = "red"


def flush_until(sdk: Any, client: Any, done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        if sdk is ours:
            client.flush(timeout=max(0.1, deadline - time.monotonic()))
        else:
            for future in client.flush() or []:
                if future is not None:
                    future.result(deadline - time.monotonic())
        wait_until(done, 0.2)


def shutdown(sdk: Any, client: Any) -> None:
    client.shutdown(timeout=5) if sdk is ours else client.shutdown()


def sent_events(sink: Sink) -> List[Dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in FILLED_BY_SDK} for body in sink.bodies() for e in body["events"]]


# -- events and builders -----------------------------------------------------------------


def test_identify_event_and_group_identify_event_take_identify_obj():
    for sdk in (theirs, ours):
        identify = sdk.Identify().set("plan", "pro").add("logins", 1)
        event = sdk.IdentifyEvent(user_id="user-0001", identify_obj=identify)
        group = sdk.GroupIdentifyEvent(groups={"org": "acme"}, identify_obj=sdk.Identify().set("tier", "gold"))
        assert event.event_type == "$identify"
        assert event.user_properties == {"$set": {"plan": "pro"}, "$add": {"logins": 1}}
        assert group.event_type == "$groupidentify" and group.group_properties == {"$set": {"tier": "gold"}}


def identify_operations(sdk: Any) -> Dict[str, Any]:
    identify = sdk.Identify()
    identify.set("k", 1).set("k", 2)  # a second operation on a key
    identify.add("n", "12")  # $add of a string
    identify.set("nested", [[1, 2]])  # a value Amplitude cannot take
    identify.set_once("ok", "yes")
    after = sdk.Identify().clear_all().set("late", 1)  # anything after clear_all
    return {"ops": identify.user_properties, "after_clear_all": after.user_properties}


def test_identify_logs_and_ignores_what_it_cannot_take_as_the_reference_does(caplog):
    with caplog.at_level(logging.ERROR, logger="amplitude"):
        expected = identify_operations(theirs)
        caplog.clear()
        got = identify_operations(ours)  # raised ValidationError before
    assert got == expected == {"ops": {"$set": {"k": 1}, "$setOnce": {"ok": "yes"}},
                               "after_clear_all": {"$clearAll": "-"}}
    messages = [r.getMessage() for r in caplog.records if r.name == "amplitude"]
    assert messages.count("Key or clear all operation already set.") == 2
    assert len(messages) == 4  # each ignored operation is logged (the reference is silent on two of them)
    assert analytics_sdk_identify_still_raises()


def analytics_sdk_identify_still_raises() -> bool:
    from analytics_sdk import Identify, ValidationError

    try:
        Identify().set("k", 1).set("k", 2)
    except ValidationError:
        return True
    return False


def property_scenario(sdk: Any, sink: Sink) -> List[Tuple[str, int]]:
    codes: List[Tuple[str, int]] = []
    client = sdk.Amplitude("key", sdk.Config(server_url=sink.url, callback=lambda e, code, m=None: codes.append(
        (e.event_type, code))))
    nested = sdk.BaseEvent("Nested List", user_id="user-0001")
    nested["event_properties"] = {"test": ["4", [5, 6]]}  # refused: a list in a list
    client.track(nested)
    client.track(sdk.BaseEvent("Odd Values", user_id="user-0001", event_properties={"when": object()},
                               user_properties={"ok": 1}))
    client.track(sdk.BaseEvent("Many Keys", user_id="user-0001",
                               event_properties={"big": {str(i): i for i in range(1500)}, "small": 1}))
    client.track(sdk.BaseEvent("Long", user_id="user-0001", device_id="d" * 2000,
                               event_properties={"text": "x" * 3000, "color": Color.RED, "none": None}))
    flush_until(sdk, client, lambda: len(codes) >= 4)
    shutdown(sdk, client)
    return sorted(codes)


def test_invalid_properties_and_limits_give_the_same_wire_as_the_reference(caplog):
    with Sink() as their_sink, Sink() as our_sink, caplog.at_level(logging.ERROR, logger="amplitude"):
        their_codes = property_scenario(theirs, their_sink)
        caplog.clear()
        our_codes = property_scenario(ours, our_sink)
    mine, reference = sent_events(our_sink), sent_events(their_sink)
    assert mine == reference
    by_type = {e["event_type"]: e for e in mine}
    assert "event_properties" not in by_type["Nested List"] and "event_properties" not in by_type["Odd Values"]
    assert by_type["Many Keys"]["event_properties"] == {"big": {}, "small": 1}
    assert by_type["Long"]["event_properties"] == {"text": "x" * 1024, "color": "red"}
    assert by_type["Long"]["device_id"] == "d" * 1024
    assert our_codes == their_codes
    messages = [r.getMessage() for r in caplog.records if r.name == "amplitude"]
    assert "Too many properties. 1024 maximum." in messages
    assert sum("Event property event_properties left out" in m for m in messages) == 2  # the reference is silent


def test_get_event_body_is_what_is_sent(caplog):
    events = [
        ours.BaseEvent("Enum", user_id="user-0001", event_properties={"color": Color.RED, "gone": None}),
        ours.BaseEvent("Long", user_id="user-0001", device_id="d" * 1500, event_properties={"t": ["y" * 2000]}),
        ours.BaseEvent("Many", user_id="user-0001", user_properties={"$set": {str(i): i for i in range(1100)}}),
    ]
    with Sink() as sink:
        client = ours.Amplitude("key", ours.Config(server_url=sink.url))
        for event in events:
            client.track(event)
        client.flush(timeout=10)
        client.shutdown(timeout=5)
    bodies = [{k: v for k, v in e.get_event_body().items() if k not in FILLED_BY_SDK} for e in events]
    assert bodies == sent_events(sink)
    assert bodies[0]["event_properties"] == {"color": "red"} and bodies[2]["user_properties"] == {"$set": {}}
    assert len(bodies[1]["device_id"]) == 1024 and len(bodies[1]["event_properties"]["t"][0]) == 1024
    for event, body in zip(events, bodies):  # the same as the reference makes of the same event
        copy = theirs.BaseEvent(event.event_type, user_id=event.user_id, device_id=event.device_id,
                                event_properties=event.event_properties, user_properties=event.user_properties)
        assert {k: v for k, v in copy.get_event_body().items() if k not in FILLED_BY_SDK} == body


# -- what happens to sent events ---------------------------------------------------------


def retry_scenario(sdk: Any, sink: Sink) -> List[Tuple[str, int, int]]:
    seen: List[Tuple[str, int, int]] = []
    client = sdk.Amplitude("key", sdk.Config(server_url=sink.url))
    client.configuration.callback = lambda e, code, m=None: seen.append((e.event_type, code, e.retry))
    client.track(sdk.BaseEvent("Resent", user_id="user-0001"))
    flush_until(sdk, client, lambda: len(seen) >= 1)
    shutdown(sdk, client)
    return seen


def test_event_retry_counts_the_resends_before_the_outcome():
    def once_down(state: Dict[str, int]) -> Callable[..., Any]:
        def responder(path: str, raw: bytes, default: Any) -> Any:
            state["n"] = state.get("n", 0) + 1
            return (500, b'{"code": 500, "error": "down"}') if state["n"] == 1 else None
        return responder

    with Sink(once_down({})) as their_sink, Sink(once_down({})) as our_sink:
        expected = retry_scenario(theirs, their_sink)
        got = retry_scenario(ours, our_sink)
    assert got == expected == [("Resent", 200, 1)]


def invalid_key_scenario(sdk: Any, sink: Sink) -> None:
    client = sdk.Amplitude("key", sdk.Config(server_url=sink.url, logger=logging.getLogger("my-app.events")))
    client.track(sdk.BaseEvent("Refused", user_id="user-0001"))
    if sdk is ours:
        client.flush(timeout=10)
    else:
        for future in client.flush() or []:
            if future is not None:
                future.result(10)
    shutdown(sdk, client)


def test_errors_the_reference_logs_on_config_logger_go_there(caplog):
    answer = (400, b'{"code": 400, "error": "Invalid API key: key"}')
    with Sink(lambda path, raw, default: answer) as their_sink, Sink(lambda path, raw, default: answer) as our_sink:
        with caplog.at_level(logging.INFO, logger="my-app.events"):
            invalid_key_scenario(theirs, their_sink)
            expected = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "my-app.events"]
            caplog.clear()
            invalid_key_scenario(ours, our_sink)
            got = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "my-app.events"]
    assert got == expected == [("ERROR", "Invalid API Key")]
    with caplog.at_level(logging.ERROR, logger="my-app.events"):
        client = ours.Amplitude("key", ours.Config(logger=logging.getLogger("my-app.events")))
        client.revenue(ours.Revenue(price="abc"), ours.EventOptions(user_id="user-0001"))
        client.identify(ours.Identify(), ours.EventOptions(user_id="user-0001"))
    assert [r.getMessage() for r in caplog.records if r.name == "my-app.events"][-2:] == [
        "Invalid price for revenue event", "Empty identify properties"]


# -- module paths and the compat shim ----------------------------------------------------


# The reference's machinery, which the drop-in replaces with its pipeline (docs/migrating/amplitude.md).
INTERNALS = {"Timeline", "Workers", "ResponseProcessor", "AmplitudeDestinationPlugin", "ContextPlugin", "verify_event",
             "PLAN_KEY_MAPPING", "INGESTION_METADATA_KEY_MAPPING", "EVENT_KEY_MAPPING", "JSON_HEADER"}


def test_the_reference_module_paths_exist_with_its_public_names():
    for name in ("constants", "event", "plugin", "config", "storage", "client", "http_client", "utils", "exception"):
        mine = importlib.import_module(f"analytics_sdk.amplitude.{name}")
        reference = importlib.import_module(f"amplitude.{name}")
        public = {
            n for n, value in vars(reference).items()
            if not n.startswith("_") and n not in INTERNALS
            and (n.isupper() or getattr(value, "__module__", None) == reference.__name__)
        }
        missing = sorted(n for n in public if not hasattr(mine, n))
        assert not missing, f"analytics_sdk.amplitude.{name} lacks {missing}"
    constants, reference = ours.constants, importlib.import_module("amplitude.constants")
    for name in dir(reference):
        if name.isupper() and name not in ("SDK_LIBRARY", "SDK_VERSION"):
            assert getattr(constants, name) == getattr(reference, name), name
    for enum_name in ("PluginType", "EventLogLevel"):
        assert {m.name: m.value for m in getattr(constants, enum_name)} == {
            m.name: m.value for m in getattr(reference, enum_name)}
    assert ours.config.Config().get_storage().__class__ is ours.storage.InMemoryStorage
    assert ours.client.Amplitude is ours.Amplitude and ours.event.Identify is ours.Identify


def test_the_compat_shim_maps_amplitude_onto_the_drop_in_and_nothing_else():
    script = textwrap.dedent("""
        import amplitude_shim  # what pytest -p amplitude_shim loads
        import amplitude, amplitude.constants, amplitude.event, amplitude.plugin, amplitude.storage
        from amplitude.config import Config
        from amplitude.http_client import HttpClient
        import analytics_sdk.amplitude as dropin
        assert amplitude is dropin and amplitude.event is dropin.event and Config is dropin.Config
        try:
            import amplitude.worker  # the reference has it; the drop-in does not: no fallback
        except ModuleNotFoundError as exc:
            print("refused", exc.name)
        print("foreign", amplitude_shim.foreign_modules())
    """)
    env_path = f"{ROOT / 'compat' / 'amplitude'}:{ROOT}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                          )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["refused amplitude.worker", "foreign []"]


def test_the_compat_script_classes_the_suite_and_counts(tmp_path):
    """The runner on a stand-in checkout (two tests of our own writing, in the suite's
    layout): one public test, one internal one; the counts and exit status follow."""
    tests = tmp_path / "src" / "test"
    tests.mkdir(parents=True)
    (tests / "__init__.py").write_text("")
    (tests / "test_event.py").write_text(textwrap.dedent("""
        import unittest
        from amplitude import IdentifyEvent, Identify, constants
        class T(unittest.TestCase):
            def test_identify_obj(self):
                self.assertEqual(constants.IDENTIFY_EVENT, IdentifyEvent(identify_obj=Identify().set("a", 1)).event_type)
    """))
    (tests / "test_worker.py").write_text("import unittest\nfrom amplitude.worker import Workers\n"
                                          "class T(unittest.TestCase):\n    def test_w(self):\n        pass\n")
    done = subprocess.run([sys.executable, str(ROOT / "compat" / "run_amplitude_suite.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  public         1 of   1 passed\n" in done.stdout
    assert "  internals      0 of   1 passed (1 not run (import failed))\n" in done.stdout


def _value_for(sdk: Any, name: str) -> Any:
    """A value of the type the reference's field ``name`` takes."""
    from analytics_sdk.amplitude.event_fields import FIELDS

    wanted = FIELDS[name][1][0]
    if wanted is dict:
        return {"k": name}
    if name == "plan":
        return sdk.Plan(branch="b", source="s", version="1")
    if name == "ingestion_metadata":
        return sdk.IngestionMetadata(source_name="n", source_version="2")
    return {str: f"v-{name}", int: 1714564800000 + len(name), float: 1.5 + len(name)}[wanted]


def test_base_event_takes_every_argument_as_the_reference_does_by_keyword_and_by_position():
    # BaseEvent stores the rare options only when one is given (a single tuple test):
    # each argument, alone, by keyword and by position, must give the reference's body.
    import inspect

    names = [p for p in inspect.signature(theirs.BaseEvent.__init__).parameters if p not in ("self", "callback")]
    assert len(names) > 40
    for index, name in enumerate(names):
        if name == "event_type":
            continue
        bodies = []
        for sdk in (theirs, ours):
            value = _value_for(sdk, name)
            by_keyword = sdk.BaseEvent("Every Arg", **{name: value})
            positional = [None] * index
            positional[0] = "Every Arg"
            by_position = sdk.BaseEvent(*positional, value)
            bodies.append((by_keyword.get_event_body(), by_position.get_event_body()))
        (their_kw, their_pos), (our_kw, our_pos) = bodies
        assert our_kw == their_kw and our_pos == their_pos, name
        assert len(our_kw) == 2, (name, our_kw)  # event_type and the one argument


def test_base_event_callback_argument_is_called_as_the_reference_calls_it():
    seen: List[Tuple[str, int]] = []
    for sdk in (theirs, ours):
        event = sdk.BaseEvent("Called", user_id="user-1", callback=lambda e, code, msg: seen.append((e.event_type, code)))
        event.callback(200, "ok")
    assert seen == [("Called", 200), ("Called", 200)]
