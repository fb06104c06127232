"""The one JSON encoder, and the table that makes values JSON-safe.

Conversion table (applied by ``to_json_value``; documented in README.rst):

==========================  =================================================
value                       becomes
==========================  =================================================
datetime (aware)            ISO-8601 string with its offset
datetime (naive)            ISO-8601 string, taken to be UTC (``+00:00``)
date / time                 ISO-8601 string
timedelta                   total seconds (float)
Decimal                     float (NaN/Infinity become null)
UUID                        string
Enum                        its ``.value`` (converted in turn)
set, frozenset              list (tuple and list are native)
bytes, bytearray            UTF-8 text; base64 text when not valid UTF-8
dataclass instance          dict of its fields
numpy scalar / array        ``.item()`` / ``.tolist()``
other Mapping               dict
float NaN / Infinity        null (JSON forbids them; the API rejects them)
non-string dict key         ``str(key)`` (after the table above)
anything else               ``str(value)``, with one warning per type
==========================  =================================================

The fast path is orjson when the ``speed`` extra is installed (unless the
environment sets ``ANALYTICS_SDK_JSON=stdlib``), else the standard library's C
encoder; both use ``default=`` so only the values JSON cannot hold are touched,
and both give the same content. NaN, odd keys and lone surrogates make the C encoder raise; the
slow path then rebuilds a clean copy and encodes that. Nothing here raises for a
value, except for a circular reference, which is a caller bug and is reported
at the call site as a :class:`ValidationError`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Dict, List, Set

from .errors import ValidationError

__all__ = ["encode", "encode_stdlib", "ENCODER", "to_json_value", "decode"]

log = logging.getLogger("analytics_sdk")

_warned_types: Set[type] = set()
_utc = dt.timezone.utc


def _convert_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=_utc)
    return value.isoformat()


def _convert_decimal(value: Decimal) -> Any:
    return float(value) if value.is_finite() else None


def _convert_bytes(value: Any) -> str:
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


# Exact-type lookups first (cheap), then the isinstance fallbacks in to_json_value.
_BY_TYPE: Dict[type, Callable[[Any], Any]] = {
    dt.datetime: _convert_datetime,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    dt.timedelta: dt.timedelta.total_seconds,
    Decimal: _convert_decimal,
    uuid.UUID: str,
    set: list,
    frozenset: list,
    bytes: _convert_bytes,
    bytearray: _convert_bytes,
    memoryview: _convert_bytes,
}


def to_json_value(value: Any) -> Any:
    """Convert one value JSON cannot hold into one it can (one level deep)."""
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, dt.datetime):
        return _convert_datetime(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return _convert_decimal(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _convert_bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist) and getattr(value, "ndim", None):
        return tolist()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return item()
        except Exception:  # noqa: BLE001 - a foreign .item() may do anything
            pass
    return _fallback_str(value)


def _fallback_str(value: Any) -> str:
    kind = type(value)
    if kind not in _warned_types:
        _warned_types.add(kind)
        log.warning(
            "analytics_sdk: values of type %s.%s are not JSON-serialisable; sending str(value)",
            kind.__module__,
            kind.__qualname__,
        )
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the caller
        return f"<unserialisable {kind.__qualname__}>"


def _make_stdlib_encoder() -> Callable[[Any], str]:
    """The C encoder built once and reused: building it per call (as json.dumps
    does) costs ~4 us of the ~11. No circular-reference markers: a cycle ends in
    RecursionError, and the slow path reports it. ASCII output (as Segment's SDK
    sends) is the C encoder's fastest string path."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(default=to_json_value, allow_nan=False, separators=(",", ":")).encode
    encoder = c_make_encoder(
        None, to_json_value, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def encode_text(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode_text


_fast_encoder = _make_stdlib_encoder()
_ascii_encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=True, separators=(",", ":")).encode

_JSON_SCALARS = (str, int, float, bool, type(None))


def _clean(value: Any, active: List[int]) -> Any:
    """Slow path: a fully JSON-safe deep copy (NaN -> None, keys -> str)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, _JSON_SCALARS):
        return value
    marker = id(value)
    if marker in active:
        raise ValidationError("the message contains a circular reference")
    active.append(marker)
    try:
        if isinstance(value, dict):
            return {_clean_key(k, active): _clean(v, active) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_clean(v, active) for v in value]
        return _clean(to_json_value(value), active)
    finally:
        active.pop()


def _clean_key(key: Any, active: List[int]) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, _JSON_SCALARS):
        return json.dumps(key)  # same text the encoder would give: 1 -> "1", True -> "true"
    converted = _clean(to_json_value(key), active)
    return converted if isinstance(converted, str) else json.dumps(converted)


def _encode_slow(message: Any) -> bytes:
    # NaN/Infinity, a key JSON cannot hold, a lone surrogate, a huge int, or a cycle.
    return _ascii_encoder(_clean(message, [])).encode("ascii")


def encode_stdlib(message: Any) -> bytes:
    """Encode with the standard library's C encoder (the default install)."""
    try:
        return _fast_encoder(message).encode("ascii")
    except (ValueError, TypeError, RecursionError):
        return _encode_slow(message)


def _load_orjson() -> Any:
    if os.environ.get("ANALYTICS_SDK_JSON", "").lower() == "stdlib":
        return None
    try:
        import orjson
    except ImportError:
        return None
    return orjson


_orjson = _load_orjson()

if _orjson is not None:
    _orjson_dumps = _orjson.dumps
    # Naive datetimes are UTC, as in the table; NaN/Infinity already become null.
    _ORJSON_OPTIONS = _orjson.OPT_NAIVE_UTC

    def encode_orjson(message: Any) -> bytes:
        """Encode with orjson (the ``speed`` extra); same content as encode_stdlib."""
        try:
            out = _orjson_dumps(message, default=to_json_value, option=_ORJSON_OPTIONS)
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            return _encode_slow(message)
        # orjson over-allocates and shrinks; kept alive in a queue, those blocks
        # fragment the heap (measured: 9-23 us per call instead of 2). A right-sized
        # copy from Python's small-object allocator is cheaper and smaller.
        return bytes(memoryview(out))

    encode = encode_orjson
    ENCODER = "orjson"
else:
    encode = encode_stdlib
    ENCODER = "json"


def decode(raw: bytes) -> Any:
    """Inverse of :func:`encode`, used off the hot path (reports, tests)."""
    return json.loads(raw)
