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

from analytics_sdk import ValidationError
from analytics_sdk.serialization import encode


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


def roundtrip(value):
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
def test_conversion_table(value, expected):
    assert roundtrip(value) == expected


def test_output_is_strict_json():
    raw = encode({"a": float("nan"), "b": [math.inf]})
    json.loads(raw, parse_constant=lambda name: pytest.fail(f"non-standard constant {name}"))


def test_non_ascii_text_is_utf8():
    assert encode({"name": "Zoë"}) == '{"name":"Zoë"}'.encode("utf-8")


def test_circular_reference_is_a_clear_error():
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValidationError, match="circular"):
        encode(loop)
