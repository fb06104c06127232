"""The conversion table and the one encoder."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from analytics_sdk import ValidationError, serialization
from analytics_sdk.serialization import encode_stdlib

ENCODERS = [pytest.param(encode_stdlib, id="stdlib")]
if hasattr(serialization, "encode_orjson"):
    ENCODERS.append(pytest.param(serialization.encode_orjson, id="orjson"))


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
        ("\ud800 lone surrogate", "\ud800 lone surrogate"),
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
    if not hasattr(serialization, "encode_orjson"):
        pytest.skip("orjson is not installed")
    from analytics_sdk.messages import build_track

    message = build_track(
        "u", "E", {"n": 1.5, "big": 10**30, "d": Decimal("2.50"), "when": datetime(2024, 1, 1, 12, 30, 0, 5),
                   "tags": ("a", "b"), "nested": {"x": [None, True, {"y": "ü"}]}, 3: "int key"},
    )
    assert json.loads(serialization.encode_orjson(message)) == json.loads(encode_stdlib(message))


def test_the_default_encoder_is_reported():
    assert serialization.ENCODER in ("orjson", "json")
