"""The conversion table and the one encoder."""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import math
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from analytics_sdk import ValidationError, json_codec
from analytics_sdk.json_codec import encode_stdlib

ENCODERS = [pytest.param(encode_stdlib, id="stdlib")]
if hasattr(json_codec, "encode_orjson"):
    ENCODERS.append(pytest.param(json_codec.encode_orjson, id="orjson"))


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: Decimal


class FakeNumpyScalar:
    def item(self):
        return 7


class FakeNumpyArray:
    ndim = 1

    def tolist(self):
        return [1, 2]


class Opaque:
    def __str__(self):
        return "opaque!"


@pytest.fixture(params=ENCODERS)
def encode(request):
    return request.param


def roundtrip(encode, value):
    return json.loads(encode({"v": value}))["v"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2024-01-02T03:04:05+00:00"),
        (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05+00:00"),
        (date(2024, 1, 2), "2024-01-02"),
        (time(3, 4, 5), "03:04:05"),
        (timedelta(minutes=1, milliseconds=500), 60.5),
        (Decimal("1.25"), 1.25),
        (Decimal("NaN"), None),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Color.RED, "red"),
        ({3}, [3]),
        (frozenset({"a"}), ["a"]),
        ((1, 2), [1, 2]),
        (b"hi", "hi"),
        (b"\xff\xfe", "//4="),
        (Point(1, Decimal("2.5")), {"x": 1, "y": 2.5}),
        (FakeNumpyScalar(), 7),
        (FakeNumpyArray(), [1, 2]),
        (float("nan"), None),
        (float("inf"), None),
        (Opaque(), "opaque!"),
        ({1: "a", (1, 2): "b"}, {"1": "a", "(1, 2)": "b"}),
        ({"nested": [{"d": Decimal("NaN")}]}, {"nested": [{"d": None}]}),
        ("\ud800 lone surrogate", "\ufffd lone surrogate"),
        ("pair \ud83d\ude00 joined", "pair \U0001f600 joined"),
        ({"k\udc00": "v"}, {"k\ufffd": "v"}),
        (10**40, 10**40),
    ],
)
def test_conversion_table(encode, value, expected):
    assert roundtrip(encode, value) == expected


def test_output_is_strict_json(encode):
    raw = encode({"a": float("nan"), "b": [math.inf]})
    json.loads(raw, parse_constant=lambda name: pytest.fail(f"non-standard constant {name}"))


def test_non_ascii_text_survives(encode):
    raw = encode({"name": "Zoë 東京"})
    assert json.loads(raw.decode("utf-8")) == {"name": "Zoë 東京"}


def test_circular_reference_is_a_clear_error(encode):
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValidationError, match="circular"):
        encode(loop)


def test_both_encoders_give_the_same_content():
    if not hasattr(json_codec, "encode_orjson"):
        pytest.skip("orjson is not installed")
    from analytics_sdk.messages import build_track

    message = build_track(
        "u", "E", {"n": 1.5, "big": 10**30, "d": Decimal("2.50"), "when": datetime(2024, 1, 1, 12, 30, 0, 5),
                   "tags": ("a", "b"), "nested": {"x": [None, True, {"y": "ü"}]}, 3: "int key"},
    )
    assert json.loads(json_codec.encode_orjson(message)) == json.loads(encode_stdlib(message))


def test_the_default_encoder_is_reported():
    assert json_codec.ENCODER in ("orjson", "json")


def test_both_encoders_write_utf8_of_the_same_size():
    # The 32 KB limit is measured on these bytes: it must not depend on the encoder.
    if not hasattr(json_codec, "encode_orjson"):
        pytest.skip("orjson is not installed")
    message = {"name": "Zoë 東京 😀", "n": [1, 2.5, None, True]}
    assert len(json_codec.encode_orjson(message)) == len(encode_stdlib(message))
    assert "東京".encode("utf-8") in encode_stdlib(message)


@pytest.mark.parametrize(
    "value, words",
    [
        ({1: "a", "1": "b"}, "keys 1 and '1' both become the JSON key '1'"),
        ({"1": "b", 1: "a"}, "keys '1' and 1 both become"),
        ({None: 1, "null": 2}, "'null'"),
        ({False: 1, "false": 2}, "'false'"),
        ({1.5: 1, "1.5": 2}, "'1.5'"),
        ({"a\ud800": 1, "a\udfff": 2}, "'a\ufffd'"),
        ({"x": {"y": {2: "a", "2": "b"}}}, "v['x']['y']"),
    ],
)
def test_keys_that_become_the_same_text_are_refused(encode, value, words):
    with pytest.raises(ValidationError) as info:
        encode({"v": value})
    assert words in str(info.value)


def test_distinct_non_string_keys_are_kept(encode):
    assert roundtrip(encode, {7: "a", 2.5: "b", True: "c", None: "d"}) == {"7": "a", "2.5": "b", "true": "c", "null": "d"}


def nested(depth):
    value = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_nesting_up_to_the_limit_is_kept_and_one_more_level_is_refused(encode):
    # {"v": ...} is level 1, so the nested value may add MAX_DEPTH - 1 levels.
    assert roundtrip(encode, nested(json_codec.MAX_DEPTH - 1)) == nested(json_codec.MAX_DEPTH - 1)
    with pytest.raises(ValidationError, match=f"nested deeper than {json_codec.MAX_DEPTH} levels"):
        encode({"v": nested(json_codec.MAX_DEPTH)})


def test_depth_counts_containers_made_by_the_conversion_table(encode):
    deep_sets = nested(json_codec.MAX_DEPTH - 2)
    for _ in range(2):
        deep_sets = [frozenset([1]), {"s": deep_sets}]  # siblings converted by the hook
    with pytest.raises(ValidationError, match="nested deeper"):
        encode({"v": [Point(1, deep_sets)]})


def test_many_shallow_objects_are_not_mistaken_for_depth(encode):
    products = [{"id": i, "tags": ["a"]} for i in range(200)]  # 400 brackets, depth 4
    assert roundtrip(encode, products) == products


def test_integers_past_the_parsers_digit_limit_are_refused(encode):
    with pytest.raises(ValidationError, match="more than 4300 digits"):
        encode({"v": {"n": 10**4300}})
    assert roundtrip(encode, 10**4299) == 10**4299


def test_a_broken_mapping_is_refused_naming_where(encode):
    class BrokenMapping(collections.abc.Mapping):
        def __iter__(self):
            return iter(["k"])

        def __len__(self):
            return 1

        def __getitem__(self, key):
            raise KeyError(key)

    with pytest.raises(ValidationError, match=r"v\['a'\]\[0\]: cannot convert BrokenMapping \(KeyError"):
        encode({"v": {"a": [BrokenMapping()]}})


# Modules whose behaviour depends on which encoder ``json_codec.encode`` is.
_ENCODER_SENSITIVE = ["tests/test_delivery.py", "tests/test_bad_input.py", "tests/test_redirects.py"]


@pytest.mark.skipif(json_codec.ENCODER == "json", reason="this run already uses the stdlib encoder")
def test_delivery_and_bad_input_pass_under_the_stdlib_encoder():
    """``make test`` installs orjson, a default install does not: run the delivery and
    bad-input tests again as a default install would (``ANALYTICS_SDK_JSON=stdlib``)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "ANALYTICS_SDK_JSON": "stdlib"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_ENCODER_SENSITIVE],
        cwd=root, env=env, capture_output=True, text=True, timeout=110,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
