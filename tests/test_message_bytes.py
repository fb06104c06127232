"""The templated Segment encoding gives exactly the bytes of the general encoder."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from analytics_sdk import ValidationError, messages as m
from analytics_sdk.message_bytes import encode_templated
from analytics_sdk.json_codec import MAX_DEPTH, encode_stdlib
from analytics_sdk.version import VERSION


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


CASES = {
    "plain track": m.build_track("u", "Order Completed", {"revenue": 42.5, "items": [{"sku": "a"}], "n": None}),
    "escapes": m.build_track("u\"\\", "Ev é \n", {"k\u2028": "é\x00"}, anonymous_id="a"),
    "context and integrations": m.build_track(
        None, "E", {}, anonymous_id="x", context={"ip": "1.2.3.4", "z": [1]}, integrations={"All": False, "Segment": True}
    ),
    "identify": m.build_identify("u", {"name": "n", "when": dt.datetime(2020, 1, 1)}),
    "identify with context": m.build_identify("u", None, context={"b": 1, "a": {"d": 2, "c": 3}}),
    "mixed keys": m.build_track("u", "E", {1: "a", "b": 2}),
    "colliding keys": m.build_track("u", "E", {1: "a", "1": "b"}),
    "nan": m.build_track("u", "E", {"x": math.nan}),
    "lone surrogate": m.build_track("u", "E", {"x": "\ud800"}),
    "too deep": m.build_track("u", "E", _nested(MAX_DEPTH + 5)),
    "page": m.build_page("u", "cat", "name", {"a": 1}),
    "a plugin added a key": {**m.build_track("u", "E", {}), "extra": {"b": 1, "a": 2}},
    "a str subclass id": {**m.build_track("u", "E", {}), "userId": type("S", (str,), {})("x")},
}


def _outcome(encode, message):
    try:
        return encode(message)
    except ValidationError as exc:
        return ("ValidationError", str(exc))


@pytest.mark.parametrize("name", sorted(CASES))
def test_templated_bytes_equal_the_general_encoders(name):
    message = CASES[name]
    assert _outcome(encode_templated, message) == _outcome(encode_stdlib, message)


def test_a_changed_default_context_is_encoded_as_it_is_now():
    for change in (lambda c: c.update(extra=1), lambda c: c["library"].update(name="wrapper")):
        message = m.build_track("u", "E", {})
        change(message["context"])
        assert encode_templated(message) == encode_stdlib(message)
        assert b'"extra":1' in encode_templated(message) or b'"name":"wrapper"' in encode_templated(message)


def test_changing_one_messages_context_never_reaches_another():
    # The message is handed back to the caller (and, copied two levels deep, to
    # plugins): a change to its context or library must stay in that message.
    first = m.build_track("u", "E", {})
    first["context"]["ip"] = "1.2.3.4"
    first["context"]["library"]["name"] = "changed"
    with_context = m.build_identify("u", None, context={"ip": "5.6.7.8"})
    with_context["context"]["library"]["version"] = "0"
    for later in (m.build_track("u", "E", {}), m.build_identify("u", None, context={"a": 1}), m.build_page("u")):
        assert later["context"]["library"] == {"name": "analytics-sdk-python", "version": VERSION}
        assert "ip" not in later["context"]
        assert b'"library":{"name":"analytics-sdk-python"' in encode_templated(later)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    user_id=st.text(min_size=1, max_size=8),
    event=st.text(min_size=1, max_size=8),
    properties=st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    traits=st.dictionaries(st.text(max_size=5) | st.integers(), json_values, max_size=3),
)
def test_templated_encoding_matches_on_arbitrary_values(user_id, event, properties, traits):
    for build in (lambda: m.build_track(user_id, event, properties), lambda: m.build_identify(user_id, traits)):
        try:
            message = build()
        except ValidationError:
            continue  # refused by the builder (a lone surrogate in an id): nothing to encode
        assert _outcome(encode_templated, message) == _outcome(encode_stdlib, message)
