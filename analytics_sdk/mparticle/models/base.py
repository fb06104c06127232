"""The base of the drop-in models: fields declared as data, checked on every set.

A model class lists its fields in the reference SDK's constructor order (so
positional arguments mean the same), the checks of the fields that have one
(added to its base's), and defaults. Unlike the reference, checks also run in
the constructor: a bad value fails where it is written, not as a 400 from
mParticle later. Each model lives in the module the reference has it in
(``models/app_event.py`` ...); this one is ours.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from pprint import pformat
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Iterable, Tuple

__all__ = ["Model", "fields", "one_of", "uuid_text", "attribute_bag", "to_wire", "validate_attribute_bag_values"]

Check = Callable[[str, str, Any], None]  # (class name, field, value) -> raise ValueError
_SCALARS = (str, int, float, bool)


def fields(names: str) -> Tuple[str, ...]:
    """A field tuple from a space-separated list (constructor order)."""
    return tuple(names.split())


def one_of(*allowed: str) -> Check:
    def check(owner: str, name: str, value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{owner}.{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


def uuid_text(owner: str, name: str, value: Any) -> None:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{owner}.{name} must be a UUID string, got {value!r} ({exc})") from None


def validate_attribute_bag_values(values: Any) -> bool:
    """Whether every value of an attribute dict is a string, number, bool or None."""
    return values is None or all(v is None or isinstance(v, _SCALARS) for v in values.values())


def attribute_bag(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{owner}.{name} must be a dict, got {type(value).__name__}")
    for key, item in value.items():
        if item is not None and not isinstance(item, _SCALARS):
            raise ValueError(
                f"{owner}.{name}[{key!r}] must be a string, number, bool or None (mParticle takes no "
                f"nested values), got {type(item).__name__}"
            )


class Model:
    """Attributes are the fields; unset ones are None and stay off the wire."""

    _fields: ClassVar[Tuple[str, ...]] = ()
    _checks: ClassVar[Dict[str, Check]] = {}
    _defaults: ClassVar[Dict[str, Any]] = {}

    if TYPE_CHECKING:  # fields are set in __init__ from _fields: any name type-checks, as in the reference

        def __getattr__(self, name: str) -> Any: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass checks its own fields and every field its bases check.
        inherited: Dict[str, Check] = {}
        for base in reversed(cls.__bases__):
            inherited.update(getattr(base, "_checks", {}))
        cls._checks = {**inherited, **cls.__dict__.get("_checks", {})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__}() takes at most {len(cls._fields)} positional arguments, got {len(args)}")
        values = dict(cls._defaults)
        values.update(zip(cls._fields, args))
        for key, value in kwargs.items():
            if key not in cls._fields:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {key!r}")
            if key in values and cls._fields.index(key) < len(args):
                raise TypeError(f"{cls.__name__}() got multiple values for argument {key!r}")
            values[key] = value
        for name in cls._fields:
            setattr(self, name, values.get(name))

    def __setattr__(self, name: str, value: Any) -> None:
        check = self._checks.get(name)
        if check is not None and value is not None:
            check(type(self).__name__, name, value)
        object.__setattr__(self, name, value)

    @property
    def attribute_map(self) -> Dict[str, str]:
        return {name: name for name in self._fields}

    def to_dict(self) -> Dict[str, Any]:
        """Every field by attribute name, None included, models as dicts (as the reference)."""
        return {name: _plain(getattr(self, name)) for name in self._fields}

    def to_str(self) -> str:
        return pformat(self.to_dict())

    def __repr__(self) -> str:
        return self.to_str()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def wire_items(self) -> Iterable[Tuple[str, Any]]:
        """(JSON key, value) of the fields that are set, in order."""
        for name in self._fields:
            value = getattr(self, name)
            if value is not None:
                yield name, value


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_wire(value: Any) -> Any:
    """A model (or list/dict of them) as the JSON value mParticle receives: unset
    fields left out; dates as ISO-8601 and Decimals as strings, like the reference."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, Model):
        return {key: to_wire(item) for key, item in value.wire_items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value  # anything else: the encoder's conversion table

