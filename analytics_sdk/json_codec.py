"""The one JSON encoder, and the table that makes values JSON-safe.

Conversion table (applied by ``to_json_value``; documented in docs/serialization.md):

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
non-string dict key         its JSON text (1 -> "1", None -> "null")
two keys with the same text ValidationError naming both ({1: "a", "1": "b"})
lone surrogate              U+FFFD (a surrogate pair is joined)
int over 4,300 digits       ValidationError (parsers refuse it)
nesting past MAX_DEPTH      ValidationError naming where
a class                     ``str(value)`` (never its unbound methods)
anything else               ``str(value)``, with one warning per type
==========================  =================================================

The fast path is orjson when the ``speed`` extra is installed (unless the
environment sets ``ANALYTICS_SDK_JSON=stdlib``), else the standard library's C
encoder; both use ``default=`` so only the values JSON cannot hold are touched,
both write UTF-8 and both give the same content. NaN, odd or mixed keys, lone
surrogates, huge ints, deep nesting and conversions that raise make the fast
encoder raise; the slow path then rebuilds a clean copy and encodes that, or
raises :class:`ValidationError` naming where the bad value is (a caller bug:
reported at the call site, never in the uploader).
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

__all__ = ["encode", "encode_stdlib", "fast_text_encoder", "checked_depth", "ENCODER", "MAX_DEPTH", "MAX_INT_DIGITS", "to_json_value", "decode"]

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
    """Convert one value JSON cannot hold into one it can (one level deep).

    A conversion from the table may raise for a broken object (a Mapping whose
    ``__getitem__`` fails): the encoder then takes the slow path, which reports it
    as a :class:`ValidationError` naming where the value is. Duck-typed probes
    (numpy's ``tolist``/``item``) that fail only mean "not numpy": ``str(value)``.
    """
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, type):  # a class (np.float64 passed as a dtype): never call its unbound methods
        return _fallback_str(value)
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
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    return _numpy_value(value)


def _numpy_value(value: Any) -> Any:
    # Duck typing for numpy without importing it. A foreign __getattr__, .tolist()
    # or .item() may raise anything: that only means "not numpy".
    try:
        if callable(getattr(value, "tolist", None)) and getattr(value, "ndim", None):  # arrays
            return value.tolist()
    except Exception:  # noqa: BLE001
        pass
    try:
        item = getattr(value, "item", None)  # scalars
        if callable(item):
            return item()
    except Exception:  # noqa: BLE001
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
    RecursionError, and the slow path reports it.

    UTF-8 output, like orjson's (so both measure the 32 KB limit alike), and a lone
    surrogate then fails ``.encode("utf-8")`` and takes the slow path. Sorted keys:
    the cheapest way to make the C encoder raise for a dict mixing str and non-str
    keys ({1: "a", "1": "b"} would otherwise become two "1" keys, one of them lost
    by any parser); the slow path then applies the key rules."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(
            default=to_json_value, allow_nan=False, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode
    encoder = c_make_encoder(None, to_json_value, json.encoder.encode_basestring, None, ":", ",", True, False, False)

    def encode_text(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode_text


fast_text_encoder = _make_stdlib_encoder()  # JSON text (sorted keys, UTF-8 ready); raises on anything odd
_slow_encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode

# -- limits -----------------------------------------------------------------------------

# Objects and arrays nest at most this deep in one message (the message object is
# level 1, ``properties`` level 2). Parsers refuse deeper documents: Ruby's JSON at
# 100 levels by default, Rust's serde_json at 128, orjson at 255, Python's json near
# its recursion limit (~1000, less inside a busy stack). 64, plus the two levels of
# the batch envelope, stays well inside all of them; real event data rarely passes 10.
MAX_DEPTH = 64

# Python's json (3.11+) refuses integers with more digits than this, both ways.
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS

_JSON_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list, tuple)


def _where(path: List[Any]) -> str:
    """``properties['a'][0]`` for a path from the message root; long paths elided."""
    if not path:
        return "the message"
    shown = path[:8]
    text = str(shown[0]) + "".join(f"[{step!r}]" for step in shown[1:])
    return text + ("..." if len(path) > len(shown) else "")


def _clean_text(text: str) -> str:
    """Valid Unicode text: a surrogate pair is joined, a lone surrogate becomes U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _clean(value: Any, path: List[Any], active: List[int]) -> Any:
    """Slow path: a fully JSON-safe deep copy, or a ValidationError naming where.

    NaN/Infinity -> None, lone surrogates -> U+FFFD, keys -> str (refusing two keys
    that become the same text), depth and integer size checked, cycles refused.
    """
    if isinstance(value, str):
        return _clean_text(str.__str__(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):  # bool included
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise ValidationError(
                f"{_where(path)}: an integer with more than {MAX_INT_DIGITS} digits cannot be sent "
                "(JSON parsers refuse it); send it as a string"
            )
        return value
    if value is None:
        return None
    marker = id(value)
    if marker in active:
        raise ValidationError(f"{_where(path)}: the message contains a circular reference")
    if isinstance(value, _CONTAINERS) and len(path) >= MAX_DEPTH:
        raise ValidationError(
            f"{_where(path)}: nested deeper than {MAX_DEPTH} levels of objects and arrays (the limit for one message)"
        )
    active.append(marker)
    try:
        if isinstance(value, dict):
            return _clean_dict(value, path, active)
        if isinstance(value, (list, tuple)):
            return [_clean(v, path + [i], active) for i, v in enumerate(value)]
        return _clean(_convert(value, path), path, active)
    finally:
        active.pop()


def _convert(value: Any, path: List[Any]) -> Any:
    try:
        return to_json_value(value)
    except Exception as exc:  # noqa: BLE001 - a broken object of the caller's
        raise ValidationError(
            f"{_where(path)}: cannot convert {type(value).__name__} ({type(exc).__name__}: {exc})"
        ) from exc


def _clean_dict(value: Dict[Any, Any], path: List[Any], active: List[int]) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    originals: Dict[str, Any] = {}
    for key, item in value.items():
        text = _clean_key(key, path, active)
        if text in result:
            raise ValidationError(
                f"{_where(path)}: keys {originals[text]!r} and {key!r} both become the JSON key {text!r}, "
                "so one value would be lost; use distinct keys"
            )
        originals[text] = key
        result[text] = _clean(item, path + [text], active)
    return result


def _clean_key(key: Any, path: List[Any], active: List[int]) -> str:
    if isinstance(key, str):
        return _clean_text(str.__str__(key))
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if isinstance(key, _JSON_SCALARS):
        return json.dumps(key)  # same text the C encoder gives: 1 -> "1", True -> "true"
    converted = _clean(_convert(key, path), path, active)
    return converted if isinstance(converted, str) else json.dumps(converted, ensure_ascii=False)


def _encode_slow(message: Any) -> bytes:
    # NaN/Infinity, a key JSON cannot hold, a lone surrogate, a huge int, a broken
    # object, too deep, or a cycle: a clean copy, or a ValidationError naming where.
    try:
        clean = _clean(message, [], [])
    except RecursionError:  # only if the caller's own stack is nearly exhausted
        raise ValidationError("the message could not be encoded: the call stack is too deep") from None
    return _slow_encoder(clean).encode("utf-8")


def _too_deep(value: Any, depth: int) -> bool:
    """Whether objects/arrays nest past MAX_DEPTH (the message itself is depth 1)."""
    if depth > MAX_DEPTH:
        return True
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, _CONTAINERS) and _too_deep(item, depth + 1):
            return True
        if not isinstance(item, _JSON_SCALARS) and not isinstance(item, _CONTAINERS):
            return True  # converted by the hook (a Mapping, a dataclass...): let the slow path measure it
    return False


def checked_depth(data: bytes, message: Any) -> bytes:
    """The fast path's bytes, unless the message nests past MAX_DEPTH.

    Depth needs at least MAX_DEPTH + 1 opening brackets, so counting them (~0.3 us
    for a typical message) clears almost every message; only one with more than
    MAX_DEPTH objects and arrays in all is walked."""
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and _too_deep(message, 1):
        return _encode_slow(message)  # raises, naming where, when it really is too deep
    return data


def encode_stdlib(message: Any) -> bytes:
    """Encode with the standard library's C encoder (the default install)."""
    try:
        data = fast_text_encoder(message).encode("utf-8")
    except Exception:  # noqa: BLE001 - anything odd (see _encode_slow) is sorted out there
        return _encode_slow(message)
    return checked_depth(data, message)


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
        except Exception:  # noqa: BLE001 - orjson.JSONEncodeError (a TypeError) or a hook's error
            return _encode_slow(message)
        # orjson over-allocates and shrinks; kept alive in a queue, those blocks
        # fragment the heap (measured: 9-23 us per call instead of 2). A right-sized
        # copy from Python's small-object allocator is cheaper and smaller.
        data = bytes(memoryview(out))
        if data.count(b"{") + data.count(b"[") > MAX_DEPTH:  # checked_depth's test, inline (every event)
            return checked_depth(data, message)
        return data

    encode = encode_orjson
    ENCODER = "orjson"
else:
    encode = encode_stdlib
    ENCODER = "json"


def decode(raw: bytes) -> Any:
    """Inverse of :func:`encode`, used off the hot path (reports, tests)."""
    return json.loads(raw)
