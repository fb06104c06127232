"""Amplitude-style builders that work from the Segment-style API too.

``Identify`` (user/group property operations) and ``Revenue`` are the builders of
Amplitude's SDKs (Python ``amplitude-analytics``, Go ``analytics-go``)::

    analytics_sdk.identify("u1", Identify().set("plan", "pro").add("logins", 1))
    analytics_sdk.group("u1", "acme", Identify().set("tier", "gold"),
                        integrations={"Amplitude": {"group_type": "org"}})
    analytics_sdk.track("u1", "Order Completed", Revenue(9.99, quantity=2, product_id="sku-1"))

Each destination gets them in its own terms (:func:`lift`, called by the client):

* Segment (and every Segment-API destination): ``traits`` = the ``set`` values,
  and all the operations under ``integrations["Amplitude"]["user_properties"]``
  (``"group_properties"`` for ``group``), which Segment forwards untouched;
* Amplitude: exactly those operations (``$set``, ``$add``...).

A ``Revenue`` becomes Segment's revenue properties (``revenue``, ``price``,
``quantity``, ``productId``, ``revenueType``, ``currency``, ``receipt``,
``receiptSig`` plus its ``properties``), which the Amplitude destination sends as
Amplitude's revenue fields.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .errors import ValidationError

__all__ = ["Builder", "Identify", "Revenue", "Payload", "lift", "OPERATIONS", "UNSET_VALUE"]

UNSET_VALUE = "-"
OPERATIONS = {
    "set": "$set",
    "set_once": "$setOnce",
    "add": "$add",
    "append": "$append",
    "prepend": "$prepend",
    "pre_insert": "$preInsert",
    "post_insert": "$postInsert",
    "remove": "$remove",
    "unset": "$unset",
}
CLEAR_ALL = "$clearAll"


class Builder:
    """Marker base: the client turns builders into message fields with :func:`lift`."""


class Identify(Builder):
    """User (or group) property operations; one operation per property key.

    A second operation on a key already used, or any operation after
    ``clear_all()`` (which stands alone), raises :class:`ValidationError`.
    """

    def __init__(self) -> None:
        self._properties: Dict[str, Any] = {}
        self._keys: set = set()

    @property
    def user_properties(self) -> Dict[str, Any]:
        """The operations as Amplitude's ``user_properties`` (a copy)."""
        return copy.deepcopy(self._properties)

    def _operation(self, name: str, key: Any, value: Any) -> "Identify":
        if CLEAR_ALL in self._properties:
            raise ValidationError(f"Identify: clear_all() stands alone; cannot also {name}({key!r})")
        if not isinstance(key, str) or not key:
            raise ValidationError(f"Identify.{name}: the property key must be a non-empty string, got {key!r}")
        if key in self._keys:
            raise ValidationError(f"Identify.{name}: property {key!r} already has an operation (one per key)")
        self._keys.add(key)
        self._properties.setdefault(OPERATIONS[name], {})[key] = value
        return self

    def set(self, key: str, value: Any) -> "Identify":
        return self._operation("set", key, value)

    def set_once(self, key: str, value: Any) -> "Identify":
        return self._operation("set_once", key, value)

    def add(self, key: str, value: Any) -> "Identify":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValidationError(f"Identify.add: the value for {key!r} must be a number, got {type(value).__name__}")
        return self._operation("add", key, value)

    def append(self, key: str, value: Any) -> "Identify":
        return self._operation("append", key, value)

    def prepend(self, key: str, value: Any) -> "Identify":
        return self._operation("prepend", key, value)

    def pre_insert(self, key: str, value: Any) -> "Identify":
        return self._operation("pre_insert", key, value)

    def post_insert(self, key: str, value: Any) -> "Identify":
        return self._operation("post_insert", key, value)

    def remove(self, key: str, value: Any) -> "Identify":
        return self._operation("remove", key, value)

    def unset(self, key: str) -> "Identify":
        return self._operation("unset", key, UNSET_VALUE)

    def clear_all(self) -> "Identify":
        """Remove every property: replaces the operations given so far, and stands alone."""
        self._properties = {CLEAR_ALL: UNSET_VALUE}
        self._keys = set()
        return self

    def is_valid(self) -> bool:
        return bool(self._properties)

    def traits(self) -> Dict[str, Any]:
        """What Segment gets as traits: the ``set`` values."""
        return dict(self._properties.get("$set", {}))

    def __repr__(self) -> str:
        return f"Identify({self._properties!r})"


class Revenue(Builder):
    """A purchase (Amplitude's Revenue): ``price`` per item times ``quantity``, or ``revenue``."""

    def __init__(
        self,
        price: Optional[float] = None,
        quantity: int = 1,
        product_id: Optional[str] = None,
        revenue_type: Optional[str] = None,
        receipt: Optional[str] = None,
        receipt_sig: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        revenue: Optional[float] = None,
        currency: Optional[str] = None,
    ) -> None:
        self.price = price
        self.quantity = quantity
        self.product_id = product_id
        self.revenue_type = revenue_type
        self.receipt = receipt
        self.receipt_sig = receipt_sig
        self.properties = properties
        self.revenue = revenue
        self.currency = currency

    def set_receipt(self, receipt: str, receipt_signature: str) -> "Revenue":
        self.receipt = receipt
        self.receipt_sig = receipt_signature
        return self

    def is_valid(self) -> bool:
        """A numeric price and a positive integer quantity (what Amplitude requires)."""
        price_ok = isinstance(self.price, (int, float)) and not isinstance(self.price, bool)
        quantity_ok = isinstance(self.quantity, int) and not isinstance(self.quantity, bool) and self.quantity > 0
        return price_ok and quantity_ok

    def validate(self) -> None:
        if not self.is_valid():
            raise ValidationError(
                f"Revenue needs a numeric price and a positive integer quantity, got price={self.price!r}, "
                f"quantity={self.quantity!r}"
            )

    def amplitude_properties(self) -> Dict[str, Any]:
        """Amplitude's revenue event properties (``$price``, ``$quantity``...), as its SDK sends them."""
        values = dict(self.properties or {})
        values.update(
            {
                "$productId": self.product_id,
                "$quantity": self.quantity,
                "$price": self.price,
                "$revenueType": self.revenue_type,
                "$receipt": self.receipt,
                "$receiptSig": self.receipt_sig,
                "$revenue": self.revenue,
                "$currency": self.currency,
            }
        )
        return {k: v for k, v in values.items() if v is not None}

    def segment_properties(self) -> Dict[str, Any]:
        """Segment's revenue properties (which the Amplitude destination maps to revenue fields)."""
        values = dict(self.properties or {})
        values.update(
            {
                "price": float(self.price) if self.price is not None else None,
                "quantity": self.quantity,
                "revenue": float(self.revenue) if self.revenue is not None else None,
                "productId": self.product_id,
                "revenueType": self.revenue_type,
                "currency": self.currency,
                "receipt": self.receipt,
                "receiptSig": self.receipt_sig,
            }
        )
        return {k: v for k, v in values.items() if v is not None}

    def __repr__(self) -> str:
        return f"Revenue(price={self.price!r}, quantity={self.quantity!r}, product_id={self.product_id!r})"


Payload = Union[Dict[str, Any], Builder]  # what identify/group traits and track properties accept


def _with_amplitude(integrations: Any, key: str, value: Any) -> Any:
    """A copy of ``integrations`` with ``integrations["Amplitude"][key] = value`` (the caller's dict untouched)."""
    if integrations is not None and not isinstance(integrations, Mapping):
        return integrations  # the message builder names the bad argument
    merged = dict(integrations or {})
    current = merged.get("Amplitude")
    if current is False:
        return merged  # Amplitude switched off for this message: nothing to add
    options = dict(current) if isinstance(current, Mapping) else {}
    options[key] = value
    merged["Amplitude"] = options
    return merged


def lift(kind: str, value: Builder, integrations: Any) -> Tuple[Dict[str, Any], Any]:
    """``(payload, integrations)`` for a builder given as identify/group traits or track properties."""
    if isinstance(value, Identify) and kind in ("identify", "group"):
        if not value.is_valid():
            raise ValidationError(f"{kind}: the Identify has no operations")
        target = "user_properties" if kind == "identify" else "group_properties"
        return value.traits(), _with_amplitude(integrations, target, value.user_properties)
    if isinstance(value, Revenue) and kind == "track":
        value.validate()
        return value.segment_properties(), integrations
    what = "traits" if kind in ("identify", "group") else "properties"
    raise ValidationError(f"{kind}: {what} cannot be a {type(value).__name__}")
