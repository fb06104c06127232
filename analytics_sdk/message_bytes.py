"""Segment messages to bytes: the canonical encoding every Segment-format route queues.

With orjson (the ``speed`` extra) this is plain :func:`json_codec.encode`. With
the standard library, the message envelope that :mod:`messages` built itself (ids,
timestamp, type, the library context) is written from a template and only the
caller's dicts go through the C encoder: the envelope was about 40% of the cost
of encoding a typical ``track`` (3.5 of 8.4 us). The bytes are the same as
:func:`json_codec.encode` gives (keys in sorted order, the same separators);
anything unexpected (a plugin added a key, a value of another type, a lone
surrogate) takes the general path instead.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional

from .stamps import LIBRARY_ONLY_CONTEXT
from .json_codec import ENCODER, checked_depth, encode, encode_stdlib, fast_text_encoder

__all__ = ["encode_message"]

_escape: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring

_TRACK_KEYS = frozenset(
    ("anonymousId", "context", "event", "integrations", "messageId", "properties", "timestamp", "type", "userId")
)
_IDENTIFY_KEYS = frozenset(
    ("anonymousId", "context", "integrations", "messageId", "timestamp", "traits", "type", "userId")
)


class _General(Exception):
    """A value the template does not cover: encode the whole message the general way."""


def _text(value: Any) -> str:
    """JSON for a string or None (ids, names, timestamps the builders checked)."""
    if type(value) is str:
        return _escape(value)
    if value is None:
        return "null"
    raise _General


def _object(value: Any, library_context: str = fast_text_encoder(LIBRARY_ONLY_CONTEXT)) -> str:
    """JSON for a dict: the default context and {} from constants, else the C encoder."""
    if type(value) is not dict:
        raise _General
    if len(value) == 1 and value == LIBRARY_ONLY_CONTEXT:  # (~0.1 us; encoding it, ~1 us)
        return library_context
    return fast_text_encoder(value) if value else "{}"


# One explicit template per call type, not a table walked per field: a generic join
# over (key, encoder) pairs measured 1.3 us more per call, nearly all of the gain.
def _track(msg: Dict[str, Any]) -> str:
    return (
        f'{{"anonymousId":{_text(msg["anonymousId"])},"context":{_object(msg["context"])},'
        f'"event":{_text(msg["event"])},"integrations":{_object(msg["integrations"])},'
        f'"messageId":{_text(msg["messageId"])},"properties":{_object(msg["properties"])},'
        f'"timestamp":{_text(msg["timestamp"])},"type":"track","userId":{_text(msg["userId"])}}}'
    )


def _identify(msg: Dict[str, Any]) -> str:
    return (
        f'{{"anonymousId":{_text(msg["anonymousId"])},"context":{_object(msg["context"])},'
        f'"integrations":{_object(msg["integrations"])},"messageId":{_text(msg["messageId"])},'
        f'"timestamp":{_text(msg["timestamp"])},"traits":{_object(msg["traits"])},'
        f'"type":"identify","userId":{_text(msg["userId"])}}}'
    )


def _template(msg: Any) -> Optional[Callable[[Dict[str, Any]], str]]:
    if type(msg) is not dict:
        return None
    kind = msg.get("type")
    if kind == "track" and msg.keys() == _TRACK_KEYS:
        return _track
    if kind == "identify" and msg.keys() == _IDENTIFY_KEYS:
        return _identify
    return None


def encode_templated(msg: Any) -> bytes:
    """The standard-library encoding of a Segment message, the envelope from a template."""
    template = _template(msg)
    if template is None:
        return encode_stdlib(msg)
    try:
        data = template(msg).encode("utf-8")
    except Exception:  # noqa: BLE001 - _General, a value the C encoder refuses, a lone surrogate
        return encode_stdlib(msg)  # which sorts it out, or raises ValidationError naming it
    return checked_depth(data, msg)


encode_message: Callable[[Any], bytes] = encode if ENCODER == "orjson" else encode_templated
