"""Plugins (before, enrichment, destination), outcome callbacks, opt_out."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

import pytest

import analytics_sdk
from analytics_sdk import DestinationPlugin, EventPlugin, PluginType, ValidationError


class AddPlan(EventPlugin):
    def execute(self, event: Dict[str, Any]) -> Dict[str, Any]:
        event["properties"]["plan"] = "pro"
        event["context"]["enriched"] = True
        return event


class DropInternal(EventPlugin):
    plugin_type = PluginType.BEFORE

    def execute(self, event: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        return None if event.get("event", "").startswith("internal:") else event


class Broken(EventPlugin):
    def execute(self, event: Dict[str, Any]) -> Dict[str, Any]:
        raise RuntimeError("scrubber crashed")


class Recorder(DestinationPlugin):
    """Blocks on ``gate`` for every event, so the test controls how slow it is."""

    def __init__(self, gate: Optional[threading.Event] = None, fail_on: str = "") -> None:
        super().__init__()
        self.gate = gate
        self.fail_on = fail_on
        self.seen: List[str] = []
        self.setup_with: Any = None
        self.shut = threading.Event()
        self.threads: set = set()

    def setup(self, client: Any) -> None:
        self.setup_with = client

    def execute(self, event: Dict[str, Any]) -> None:
        self.threads.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait(10)
        if event.get("event") == self.fail_on:
            raise ValueError("plugin bug")
        self.seen.append(event["messageId"])

    def shutdown(self) -> None:
        self.shut.set()


def test_enrichment_modifies_the_message_on_the_wire_but_not_the_callers_dicts(make_client, collector):
    client = make_client()
    client.add(AddPlan())
    properties = {"total": 3}
    context = {"ip": "1.2.3.4"}
    ok, message = client.track("u", "Bought", properties, context)
    assert ok and client.flush()
    stored = collector.events()[0]
    assert stored["properties"] == {"total": 3, "plan": "pro"} and stored["context"]["enriched"] is True
    assert properties == {"total": 3} and context == {"ip": "1.2.3.4"}  # the caller's objects untouched
    assert message["properties"]["plan"] == "pro"  # the returned message is what was sent


class RenameLibrary(EventPlugin):
    """What a wrapper SDK might do: name itself in context.library."""

    def execute(self, event: Dict[str, Any]) -> Dict[str, Any]:
        event["context"]["library"]["name"] = "wrapper"
        return event


def test_a_plugin_changing_the_library_context_changes_that_message_only(make_client, collector):
    wrapped = make_client()
    wrapped.add(RenameLibrary())
    wrapped.track("u", "Wrapped")
    assert wrapped.flush(timeout=5)
    plain = make_client()  # another client, after: its messages name us, as before
    plain.track("u", "Plain")
    plain.identify("u", {"a": 1})
    assert plain.flush(timeout=5)
    library = {m["event"] if m["type"] == "track" else "identify": m["context"]["library"]["name"] for m in collector.events()}
    assert library == {"Wrapped": "wrapper", "Plain": "analytics-sdk-python", "identify": "analytics-sdk-python"}


def test_before_plugins_run_first_and_a_dropped_message_is_filtered_not_an_error(make_client, collector):
    errors: List[Any] = []
    order: List[str] = []

    class Log(EventPlugin):
        def __init__(self, tag: str, kind: PluginType) -> None:
            super().__init__(kind)
            self.tag = tag

        def execute(self, event: Dict[str, Any]) -> Dict[str, Any]:
            order.append(self.tag)
            return event

    client = make_client(on_error=lambda e, m: errors.append(e))
    client.add(Log("enrich", PluginType.ENRICHMENT)).add(Log("before", PluginType.BEFORE)).add(DropInternal())
    ok, _ = client.track("u", "internal:heartbeat")
    assert ok is False
    client.track("u", "Visible")
    assert client.flush()
    assert [e["event"] for e in collector.events()] == ["Visible"]
    assert order == ["before", "before", "enrich"]  # BEFORE first, whatever the order added
    assert errors == []
    stats = client.stats()
    assert stats["filtered"] == 1 and stats["dropped_total"] == 0


def test_a_raising_plugin_drops_the_message_with_a_report_and_the_call_does_not_raise(make_client, collector):
    errors: List[Any] = []
    client = make_client(on_error=lambda e, m: errors.append((e.reason, m[0]["event"])))
    broken = Broken()
    client.add(broken)
    ok, message = client.track("u", "Sensitive", {"email": "a@b.c"})
    assert ok is False and message["event"] == "Sensitive"
    client.remove(broken)
    client.track("u", "After Removal")
    assert client.flush()
    assert [e["event"] for e in collector.events()] == ["After Removal"]  # never the unscrubbed one
    assert errors == [("plugin_error", "Sensitive")]
    assert client.stats()["dropped"] == {"plugin_error": 1}


def test_a_slow_destination_plugin_never_blocks_the_call(make_client, collector):
    gate = threading.Event()  # closed: the plugin is stuck on its first event
    recorder = Recorder(gate)
    client = make_client()
    client.add(recorder)
    assert recorder.setup_with is client
    ids = [client.track("u", f"E{i}")[1]["messageId"] for i in range(100)]
    # All 100 calls returned while the plugin is still stuck on the first event.
    assert recorder.seen == []
    assert collector.wait_for(100)  # the HTTP destination is not held up either
    assert client.flush(timeout=0.2) is False  # the plugin is behind: flush says so
    gate.set()
    assert client.flush()
    assert recorder.seen == ids
    assert threading.get_ident() not in recorder.threads
    plugin_stats = client.stats()["plugins"]["Recorder"]
    assert plugin_stats["delivered"] == 100 and plugin_stats["dropped_total"] == 0


def test_destination_plugin_errors_are_reported_and_the_worker_lives_on(make_client):
    errors: List[Any] = []
    recorder = Recorder(fail_on="Boom")
    client = make_client(on_error=lambda e, m: errors.append((e.reason, e.destination, m[0]["event"])))
    client.add(recorder)
    client.track("u", "Boom")
    after = client.track("u", "Fine")[1]["messageId"]
    assert client.flush()
    assert recorder.seen == [after]
    assert errors == [("plugin_error", "Recorder", "Boom")]


def test_removing_a_destination_plugin_stops_it_after_what_it_was_given(make_client):
    recorder = Recorder()
    client = make_client()
    client.add(recorder)
    first = client.track("u", "Before")[1]["messageId"]
    client.remove(recorder)
    assert recorder.shut.wait(30)
    client.track("u", "After")
    assert client.flush()
    assert recorder.seen == [first]
    assert "plugins" not in client.stats()


def test_plugins_are_checked_when_added(make_client):
    client = make_client()
    with pytest.raises(ValidationError, match="plugin"):
        client.add(object())


def test_callbacks_hear_every_outcome(faulty_collector, make_client):
    bad = faulty_collector(poison="POISON")
    heard: List[Any] = []
    per_call: List[Any] = []
    client = make_client(host=bad.url, callback=lambda event, code, message: heard.append((event["event"], code)))
    client.track("u", "Fine")
    client.track("u", "POISON", callback=lambda event, code, message: per_call.append((event["messageId"], code, message)))
    assert client.flush()
    assert sorted(heard) == [("Fine", 200), ("POISON", 400)]
    assert len(per_call) == 1 and per_call[0][1] == 400 and "invalid" in per_call[0][2]


def test_a_raising_callback_never_breaks_delivery(make_client, collector):
    client = make_client(callback=lambda *a: 1 / 0)
    client.track("u", "Still Delivered")
    assert client.flush()
    assert client.stats()["delivered"] == 1


def test_opt_out_is_a_runtime_switch_that_validates_but_sends_nothing(module_settings, collector):
    analytics_sdk.track("u", "Before")
    analytics_sdk.opt_out = True  # no warning, no new client: it applies at once
    ok, _ = analytics_sdk.track("u", "While Opted Out")
    assert ok
    with pytest.raises(ValidationError):
        analytics_sdk.track(None, "Still validated")
    analytics_sdk.opt_out = False
    analytics_sdk.track("u", "After")
    assert analytics_sdk.flush()
    assert [e["event"] for e in collector.events()] == ["Before", "After"]
    assert analytics_sdk.stats()["opted_out"] == 1


def test_module_level_plugins(module_settings, collector):
    plugin = AddPlan()
    analytics_sdk.add_plugin(plugin)
    analytics_sdk.track("u", "Enriched")
    analytics_sdk.remove_plugin(plugin)
    analytics_sdk.track("u", "Plain")
    assert analytics_sdk.flush()
    assert [e["properties"] for e in collector.events()] == [{"plan": "pro"}, {}]
