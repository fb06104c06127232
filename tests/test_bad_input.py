"""Hostile input: every public call raises ValidationError naming the argument, or
queues a message a collector can store (issue 10, items 6 and 7).

Runs under both encoders: here with the default one, and again in a subprocess
with ``ANALYTICS_SDK_JSON=stdlib`` (see test_json_codec.py).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import analytics_sdk
from analytics_sdk import Client, ValidationError, json_codec
from analytics_sdk import messages as m
from analytics_sdk.json_codec import MAX_DEPTH

# -- hostile values ------------------------------------------------------------------


class BrokenMapping(Mapping):
    """A Mapping that lists a key it cannot return (a lazy loader that failed)."""

    def __iter__(self) -> Iterator[str]:
        return iter(["gone"])

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)


class RaisingGetattr:
    """An object whose attribute lookups blow up (a proxy to a closed resource)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no attribute access: {name}")

    def __str__(self) -> str:
        return "raising-getattr"


class RaisingEverything(RaisingGetattr):
    def __str__(self) -> str:
        raise RuntimeError("no str either")


class FakeNdarray:
    """What numpy's array and scalar classes look like to duck typing: a ``tolist``
    method and an ``ndim`` descriptor. Passing the class itself (``np.float64`` as a
    dtype) used to call the unbound method and raise TypeError."""

    ndim = property(lambda self: 1)

    def tolist(self) -> List[int]:
        return [1, 2]


class AmbiguousTruth:
    """numpy's array semantics: ``array == ""`` is an array whose truth is ambiguous."""

    def __eq__(self, other: Any) -> Any:
        return self

    def __bool__(self) -> bool:
        raise ValueError("The truth value of an array with more than one element is ambiguous")

    __hash__ = object.__hash__


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


HUGE_INT = 10**5000  # over Python's 4,300-digit str() limit


# -- helpers ---------------------------------------------------------------------------

# Each call with a free-form argument, as (name, call(client, value)).
FREE_FORM_CALLS: List[Any] = [
    ("track.properties", lambda c, v: c.track("u", "E", v)),
    ("identify.traits", lambda c, v: c.identify("u", v)),
    ("page.properties", lambda c, v: c.page("u", "C", "N", v)),
    ("screen.properties", lambda c, v: c.screen("u", "C", "N", v)),
    ("group.traits", lambda c, v: c.group("u", "g", v)),
    ("alias.context", lambda c, v: c.alias("p", "u", v)),
    ("track.context", lambda c, v: c.track("u", "E", None, v)),
    ("track.integrations", lambda c, v: c.track("u", "E", integrations=v)),
]
ARGUMENT = {name: name.split(".")[1] for name, _ in FREE_FORM_CALLS}


@pytest.fixture
def offline() -> Iterator[Client]:
    client = Client("key", send=False)
    yield client
    client.shutdown(timeout=1)


def assert_storable(message: Dict[str, Any]) -> None:
    """What a strict collector needs: one encoding that a strict parser takes back."""
    raw = json_codec.encode(message)
    text = raw.decode("utf-8")  # strict: a lone surrogate cannot be in valid UTF-8
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard constant {name}"))


# -- item 6: nothing but ValidationError escapes ----------------------------------------


@pytest.mark.parametrize("name, call", FREE_FORM_CALLS, ids=[n for n, _ in FREE_FORM_CALLS])
@pytest.mark.parametrize(
    "value, words",
    [
        ({"n": HUGE_INT}, "digits"),
        ({"deep": nested(sys.getrecursionlimit() + 100)}, "nested"),
        ({"deep": nested(MAX_DEPTH - 1)}, "nested"),  # one level over: message 1, properties 2
        (BrokenMapping(), "KeyError"),
        ({"inner": BrokenMapping()}, "KeyError"),
        ({1: "a", "1": "b"}, "'1'"),
        ({None: "a", "null": "b"}, "'null'"),
        ({True: "a", "true": "b"}, "'true'"),
    ],
    ids=["huge-int", "past-recursion-limit", "past-depth-limit", "broken-mapping", "nested-broken-mapping",
         "int-and-str-key", "none-and-str-key", "bool-and-str-key"],
)
def test_bad_free_form_values_raise_validation_error_naming_the_argument(offline, name, call, value, words):
    with pytest.raises(ValidationError) as info:
        call(offline, value)
    assert ARGUMENT[name] in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("name, call", FREE_FORM_CALLS, ids=[n for n, _ in FREE_FORM_CALLS])
@pytest.mark.parametrize(
    "value, expected",
    [
        ({"cls": FakeNdarray}, {"cls": str(FakeNdarray)}),
        ({"obj": RaisingGetattr()}, {"obj": "raising-getattr"}),
        ({"obj": RaisingEverything()}, {"obj": "<unserialisable RaisingEverything>"}),
        ({"text": "a\ud800b"}, {"text": "a\ufffdb"}),
        ({"k\udfff": 1}, {"k\ufffd": 1}),
        ({"ok": nested(MAX_DEPTH - 4)}, {"ok": nested(MAX_DEPTH - 4)}),
        ({"big": 10**40, "neg": -(10**40)}, {"big": 10**40, "neg": -(10**40)}),
    ],
    ids=["numpy-like-class", "raising-getattr", "raising-str", "lone-surrogate-value", "lone-surrogate-key",
         "deep-but-within-limit", "big-int"],
)
def test_odd_values_are_queued_in_a_form_a_collector_can_store(offline, name, call, value, expected):
    ok, message = call(offline, value)
    assert ok
    assert_storable(message)
    field = {"alias.context": "context", "track.context": "context"}.get(name, ARGUMENT[name])
    got = json.loads(json_codec.encode(message))[field]
    got.pop("library", None)
    assert got == json.loads(json.dumps(expected))


def test_deep_value_within_the_limit_reaches_the_collector(collector, make_client):
    client = make_client()
    ok, sent = client.track("u", "E", {"ok": nested(MAX_DEPTH - 2)})
    assert ok
    assert client.flush(timeout=5)
    (stored,) = collector.events()
    assert stored["messageId"] == sent["messageId"]


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda c: c.track("u\ud800", "E"), "user_id"),
        (lambda c: c.track(anonymous_id="a\udc00", event="E"), "anonymous_id"),
        (lambda c: c.track("u", "Order \ud83d"), "event"),
        (lambda c: c.track("u", "E", message_id="m\ud800"), "message_id"),
        (lambda c: c.group("u", "g\ud800"), "group_id"),
        (lambda c: c.alias("p\ud800", "u"), "previous_id"),
        (lambda c: c.page("u", "c\ud800", "n"), "category"),
        (lambda c: c.screen("u", "c", "n\ud800"), "name"),
        (lambda c: c.identify(AmbiguousTruth()), "user_id"),
        (lambda c: c.track("u", AmbiguousTruth()), "event"),
        (lambda c: c.group("u", AmbiguousTruth()), "group_id"),
    ],
)
def test_bad_ids_and_names_are_refused_naming_the_argument(offline, call, argument):
    with pytest.raises(ValidationError) as info:
        call(offline)
    assert argument in str(info.value)


def test_valid_surrogate_pairs_and_non_ascii_ids_are_fine(offline):
    ok, message = offline.track("zoë-東京-😀", "Order 😀", {"e": "😀"}, message_id="id-😀")
    assert ok
    assert json.loads(json_codec.encode(message))["event"] == "Order 😀"


def test_broken_top_level_mapping_names_the_argument(offline):
    with pytest.raises(ValidationError, match="traits"):
        offline.identify("u", BrokenMapping())


# -- write key and environment: module API creates the client lazily on first call -------


@pytest.fixture
def fresh_module() -> Iterator[Any]:
    saved = {name: getattr(analytics_sdk, name) for name in analytics_sdk.settings.DEFAULTS}
    analytics_sdk.shutdown(timeout=1)
    yield analytics_sdk
    analytics_sdk.shutdown(timeout=1)
    for name, value in saved.items():
        setattr(analytics_sdk, name, value)


def test_write_key_with_a_lone_surrogate_is_a_validation_error():
    with pytest.raises(ValidationError, match="write_key"):
        Client("key\ud800")


def test_module_call_with_a_bad_write_key_raises_validation_error(fresh_module, collector):
    fresh_module.write_key = "key\udfff"
    fresh_module.host = collector.url
    with pytest.raises(ValidationError, match="write_key"):
        fresh_module.track("u", "E")


def test_missing_ca_bundle_in_the_environment_is_reported_not_raised(fresh_module, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    errors: List[Any] = []
    fresh_module.write_key = "key"
    fresh_module.host = "https://127.0.0.1:9"  # never reached: TLS setup fails first
    fresh_module.on_error = lambda error, batch: errors.append((error, batch))
    fresh_module.max_retries = 0
    ok, message = fresh_module.track("u", "E")  # the client and its transport are built here
    assert ok
    fresh_module.flush(timeout=5)  # "finished" includes reported drops
    assert [json.loads(raw)["messageId"] if isinstance(raw, bytes) else raw["messageId"]
            for _, batch in errors for raw in batch] == [message["messageId"]]
    assert fresh_module.stats()["dropped"] == {"retries_exhausted": 1}


def test_missing_ca_bundle_given_as_verify_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError, match="verify"):
        Client("key", host="https://127.0.0.1:9", verify=str(tmp_path / "missing.pem"))


# -- hostile input end to end: what is accepted, the collector stores -------------------


def test_accepted_hostile_messages_all_reach_a_real_collector(collector, make_client):
    client = make_client()
    values = [
        {"cls": FakeNdarray},
        {"obj": RaisingGetattr(), "bad": RaisingEverything()},
        {"text": "a\ud800b", "k\udfff": 1},
        {"nan": math.nan, "inf": [math.inf], "big": 10**40},
        {"ok": nested(MAX_DEPTH - 2)},
        {1: "int key", (1, 2): "tuple key"},
    ]
    sent = [client.track("u", "E", v)[1]["messageId"] for v in values]
    assert client.flush(timeout=5)
    assert sorted(e["messageId"] for e in collector.events()) == sorted(sent)
    assert client.stats()["dropped"] == {}


# -- fuzzing: every call raises ValidationError or gives bytes a strict parser takes --------

from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st  # noqa: E402

_HOSTILE = [lambda: FakeNdarray, FakeNdarray, RaisingGetattr, RaisingEverything, BrokenMapping, AmbiguousTruth]
_ENCODERS = [json_codec.encode_stdlib] + ([json_codec.encode_orjson] if hasattr(json_codec, "encode_orjson") else [])
_any_text = st.text(st.characters(codec=None, categories=None), max_size=8)  # lone surrogates included
_keys = st.one_of(_any_text, st.integers(-3, 3), st.none(), st.booleans(), st.floats(allow_nan=True), st.tuples(st.integers()))
_leaves = st.one_of(
    st.none(), st.booleans(), _any_text, st.floats(), st.integers(),
    st.integers(min_value=10**4290, max_value=10**4310), st.decimals(), st.datetimes(), st.binary(max_size=8),
    st.sampled_from(range(6)).map(lambda i: _HOSTILE[i]()),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4),
                            st.frozensets(st.integers(), max_size=3)),
    max_leaves=30,
)
_ids = st.one_of(st.just("id-1"), st.just("id-1"), st.just("id-1"), st.none(), _any_text, st.integers(),
                 st.sampled_from([1.5, b"id"]), st.builds(AmbiguousTruth))


def _strict_check(raw: bytes) -> None:
    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    def depth(value: Any) -> int:
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        return 0 if children is None else 1 + max(map(depth, children), default=0)

    parsed = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates,
                        parse_constant=lambda name: pytest.fail(f"non-standard constant {name}"))
    assert depth(parsed) <= MAX_DEPTH


@hypothesis_settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(sorted(m.BUILDERS)), ids=st.lists(_ids, min_size=4, max_size=4), payload=_values,
       deep=st.integers(0, MAX_DEPTH - 1), encode=st.sampled_from(_ENCODERS))
def test_fuzz_every_call_raises_validation_error_or_gives_strict_json(kind, ids, payload, deep, encode):
    arguments = m.BUILDER_ARGUMENTS[kind]
    kwargs: Dict[str, Any] = dict(zip([a for a in arguments if a.endswith("_id") or a in ("event", "name", "category")], ids))
    for free in ("properties", "traits", "context", "integrations"):
        if free in arguments:
            kwargs[free] = {"p": payload, "deep": nested(deep)}
    try:
        message = m.BUILDERS[kind](**kwargs)
        raw = encode(message)
    except ValidationError:
        event("refused")
        return
    event("accepted")
    _strict_check(raw)
