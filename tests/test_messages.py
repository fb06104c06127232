"""Pure builders: required fields, id handling, timestamps, context, no mutation."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from analytics_sdk import ValidationError
from analytics_sdk import messages as m
from analytics_sdk.version import VERSION


def test_track_has_segment_wire_fields():
    msg = m.build_track("u1", "Signed Up", {"plan": "pro"})
    assert msg["type"] == "track"
    assert msg["userId"] == "u1"
    assert msg["anonymousId"] is None
    assert msg["event"] == "Signed Up"
    assert msg["properties"] == {"plan": "pro"}
    assert msg["context"]["library"] == {"name": "analytics-sdk-python", "version": VERSION}
    assert msg["integrations"] == {}
    uuid.UUID(msg["messageId"])  # a real uuid
    assert datetime.fromisoformat(msg["timestamp"]).tzinfo is not None


@pytest.mark.parametrize(
    "build, kwargs, argument",
    [
        (m.build_track, {"user_id": "u"}, "event"),
        (m.build_track, {"event": "E"}, "user_id or anonymous_id"),
        (m.build_identify, {}, "user_id or anonymous_id"),
        (m.build_page, {"user_id": ""}, "user_id or anonymous_id"),
        (m.build_group, {"user_id": "u"}, "group_id"),
        (m.build_alias, {"user_id": "u"}, "previous_id"),
        (m.build_alias, {"previous_id": "p"}, "user_id"),
        (m.build_track, {"user_id": "u", "event": "E", "properties": ["x"]}, "properties"),
        (m.build_identify, {"user_id": "u", "traits": "x"}, "traits"),
        (m.build_identify, {"user_id": "u", "context": 3}, "context"),
        (m.build_identify, {"user_id": "u", "integrations": 3}, "integrations"),
        (m.build_page, {"user_id": "u", "name": 3}, "name"),
        (m.build_screen, {"user_id": "u", "category": 3}, "category"),
        (m.build_track, {"user_id": 1.5, "event": "E"}, "user_id"),
        (m.build_track, {"user_id": True, "event": "E"}, "user_id"),
        (m.build_track, {"user_id": "u", "event": "E", "timestamp": "yesterday-ish"}, "timestamp"),
        (m.build_track, {"user_id": "u", "event": "E", "timestamp": object()}, "timestamp"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(build, kwargs, argument):
    with pytest.raises(ValidationError) as info:
        build(**kwargs)
    assert argument in str(info.value)


def test_validation_error_is_caught_by_segment_style_handlers():
    for kind in (AssertionError, TypeError, ValueError):
        with pytest.raises(kind):
            m.build_track("u", None)


def test_zero_is_a_valid_id_and_numbers_are_stringified():
    msg = m.build_track(0, "E", anonymous_id=157963456373623802)
    assert msg["userId"] == "0"
    assert msg["anonymousId"] == "157963456373623802"
    group = m.build_group("u", 42)
    assert group["groupId"] == "42"


def test_anonymous_id_alone_is_enough():
    msg = m.build_identify(anonymous_id="anon-1", traits={"a": 1})
    assert msg["userId"] is None and msg["anonymousId"] == "anon-1"


def test_alias_fields():
    msg = m.build_alias("old", "new")
    assert msg["previousId"] == "old" and msg["userId"] == "new" and "anonymousId" not in msg


def test_page_and_screen_fields():
    for build, kind in ((m.build_page, "page"), (m.build_screen, "screen")):
        msg = build("u", "Docs", "Intro", {"path": "/"})
        assert (msg["type"], msg["category"], msg["name"], msg["properties"]) == (kind, "Docs", "Intro", {"path": "/"})


def test_message_id_is_kept_when_given():
    assert m.build_track("u", "E", message_id="fixed")["messageId"] == "fixed"


def test_timestamps():
    aware = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert m.build_track("u", "E", timestamp=aware)["timestamp"] == "2024-05-01T12:00:00+02:00"
    naive = datetime(2014, 9, 3)
    assert m.build_track("u", "E", timestamp=naive)["timestamp"] == "2014-09-03T00:00:00+00:00"
    assert m.build_track("u", "E", timestamp="2024-05-01T10:00:00Z")["timestamp"] == "2024-05-01T10:00:00+00:00"
    assert m.build_track("u", "E", timestamp=date(2024, 5, 1))["timestamp"] == "2024-05-01T00:00:00+00:00"
    assert m.build_track("u", "E", timestamp=0)["timestamp"] == "1970-01-01T00:00:00+00:00"
    now = datetime.fromisoformat(m.build_track("u", "E")["timestamp"])
    assert abs((datetime.now(timezone.utc) - now).total_seconds()) < 5


def test_caller_context_is_not_mutated():
    context = {"ip": "10.0.0.1"}
    msg = m.build_track("u", "E", context=context)
    assert context == {"ip": "10.0.0.1"}
    assert msg["context"] == {"ip": "10.0.0.1", "library": m.LIBRARY}


def test_message_ids_are_uuid4_strings():
    ids = {m.new_message_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in list(ids)[:200]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


def test_utc_now_iso_matches_datetime_isoformat():
    before = datetime.now(timezone.utc)
    stamp = datetime.fromisoformat(m.utc_now_iso())
    after = datetime.now(timezone.utc)
    assert before - timedelta(milliseconds=1) <= stamp <= after + timedelta(milliseconds=1)
    assert stamp.utcoffset() == timedelta(0)
    assert len(m.utc_now_iso()) == len("2024-01-01T00:00:00.000000+00:00")


def test_message_ids_ignore_the_apps_random_seed():
    import random

    random.seed(42)
    first = m.new_message_id()
    random.seed(42)
    assert m.new_message_id() != first


def test_fork_children_get_different_message_ids():
    import os

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, m.new_message_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 100).decode()
    assert child_id != m.new_message_id()
    uuid.UUID(child_id)
    assert child_id[:24] != m.new_message_id()[:24]  # a fresh random prefix, not just the next number


def test_message_ids_are_unique_across_threads():
    import threading

    found: list = []

    def make() -> None:
        found.extend([m.new_message_id() for _ in range(5000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 20000


def test_message_id_sequence_wraps_within_the_uuid_layout(monkeypatch):
    import itertools

    from analytics_sdk import stamps

    monkeypatch.setattr(stamps, "_id_sequence", itertools.count((1 << 48) - 1))
    last, wrapped = stamps.new_message_id(), stamps.new_message_id()
    assert last.endswith("-ffffffffffff") and wrapped.endswith("-000000000000")
    assert uuid.UUID(wrapped).version == 4


def test_call_from_wire_maps_segment_json_to_arguments():
    kind, kwargs = m.call_from_wire(
        {"type": "group", "userId": "u", "groupId": "g", "traits": {"a": 1}, "messageId": "x", "sentAt": "ignored"}
    )
    assert kind == "group"
    assert kwargs == {"user_id": "u", "group_id": "g", "traits": {"a": 1}, "message_id": "x"}
    built = m.BUILDERS[kind](**kwargs)
    assert built["groupId"] == "g" and built["messageId"] == "x"
    assert m.call_from_wire({"type": "alias", "previousId": "p", "userId": "u", "anonymousId": "dropped"})[1] == {
        "previous_id": "p",
        "user_id": "u",
    }
    with pytest.raises(ValidationError, match="type"):
        m.call_from_wire({"type": "nope"})
    with pytest.raises(ValidationError, match="JSON object"):
        m.call_from_wire([1])
