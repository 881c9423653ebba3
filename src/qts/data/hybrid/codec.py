"""Faithful, versioned serialisation of :class:`~qts.data.ports.TradingStore` write calls.

Why: an outbox entry is replayed later, perhaps by a newer QTS, against a store that must end up
exactly as if the caller had called it directly. So every value keeps its type (``int`` vs
``float`` vs ``bool``, an enum vs its text, ``date`` vs ``datetime``, a set vs a list, a tuple,
a dict with non-text keys, an aware datetime's zone, even a naive datetime), and a record is
rebuilt field by field without re-running its constructor checks: the store, not the codec,
decides what is valid, exactly as it would have for the original call.

Format (version 1), compact JSON::

    {"v": 1, "m": "<method>", "a": {"<argument>": <value>, ...}}

where a value is JSON null/true/false/number/text, a list, or a tagged object:
``{"$f": "nan"}`` (non-finite float), ``{"$e": "OrderSide", "v": "BUY"}``,
``{"$dt": "<iso>", "z": "Asia/Seoul"}`` (``z`` only for a named zone), ``{"$d": "<iso date>"}``,
``{"$s": [...]}`` (set), ``{"$fs": [...]}`` (frozenset), ``{"$t": [...]}`` (tuple),
``{"$o": {...}}`` (dict with text keys), ``{"$m": [[k, v], ...]}`` (any other dict),
``{"$r": "Order", "f": {...}}`` (a port record).

Compatibility: a payload of a newer version is refused (StorageError) rather than guessed at; a
record field missing from an older payload takes the dataclass default, and a field this code
does not know is refused. Adding a field with a default to a record needs no new version;
anything else (renaming, removing, changing a field's meaning) must bump :data:`FORMAT_VERSION`
and teach :func:`decode_op` the old one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from qts.core.errors import StorageError
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    RunMeta,
    SafetyEventRecord,
    TradingStore,
)
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

FORMAT_VERSION = 1

# Every write of the port, with its argument names in call order.
WRITE_METHODS: dict[str, tuple[str, ...]] = {
    "init_run": ("meta",),
    "save_order": ("order",),
    "record_fill": ("fill", "entry", "order", "position", "cash", "pending"),
    "save_positions": ("positions",),
    "save_account": ("state",),
    "record_decisions": ("rows",),
    "record_equity": ("point",),
    "record_safety_event": ("event",),
    "save_state": ("key", "value"),
}

_RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Order,
        Fill,
        LedgerEntry,
        Position,
        AccountState,
        DecisionRecord,
        EquityPoint,
        SafetyEventRecord,
        RunMeta,
    )
}
_ENUMS: dict[str, type[Enum]] = {
    cls.__name__: cls for cls in (OrderSide, OrderType, OrderStatus, Track)
}
_FIELDS: dict[type[Any], tuple[dataclasses.Field[Any], ...]] = {
    cls: dataclasses.fields(cls) for cls in _RECORDS.values()
}


def _encode(value: Any) -> Any:
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, Enum):
        name = kind.__name__
        if _ENUMS.get(name) is not kind:
            raise TypeError(f"cannot serialise enum {kind.__qualname__}")
        return {"$e": name, "v": value.value}
    if kind is datetime:
        out: dict[str, Any] = {"$dt": value.isoformat()}
        if isinstance(value.tzinfo, ZoneInfo):
            out["z"] = value.tzinfo.key
        return out
    if kind is date:
        return {"$d": value.isoformat()}
    if kind is list:
        return [_encode(v) for v in value]
    if kind is tuple:
        return {"$t": [_encode(v) for v in value]}
    if kind is set or kind is frozenset:
        items = sorted((_encode(v) for v in value), key=_sort_key)
        return {"$s" if kind is set else "$fs": items}
    if kind is dict:
        if all(type(k) is str for k in value):
            return {"$o": {k: _encode(v) for k, v in value.items()}}
        return {"$m": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if kind in _FIELDS:
        fields = {f.name: _encode(getattr(value, f.name)) for f in _FIELDS[kind]}
        return {"$r": kind.__name__, "f": fields}
    # Subclasses of plain types (not enums) are stored by stores as the plain value.
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return _encode(plain(value))
    raise TypeError(f"cannot serialise {kind.__qualname__} {value!r}")


def _sort_key(encoded: Any) -> str:
    """Sets have no order; sort their items by their JSON so one set has one spelling."""
    return json.dumps(encoded, sort_keys=True)


def _decode(value: Any) -> Any:
    if type(value) is list:
        return [_decode(v) for v in value]
    if type(value) is not dict:
        return value
    if "$o" in value:
        return {k: _decode(v) for k, v in value["$o"].items()}
    if "$r" in value:
        return _record(value["$r"], value["f"])
    if "$dt" in value:
        ts = datetime.fromisoformat(value["$dt"])
        zone = value.get("z")
        return ts.astimezone(ZoneInfo(zone)) if zone is not None else ts
    if "$d" in value:
        return date.fromisoformat(value["$d"])
    if "$e" in value:
        return _ENUMS[value["$e"]](value["v"])
    if "$s" in value:
        return {_decode(v) for v in value["$s"]}
    if "$fs" in value:
        return frozenset(_decode(v) for v in value["$fs"])
    if "$t" in value:
        return tuple(_decode(v) for v in value["$t"])
    if "$m" in value:
        return {_decode(k): _decode(v) for k, v in value["$m"]}
    if "$f" in value:
        return float(value["$f"])
    raise ValueError(f"unknown tagged value {sorted(value)}")


def _record(name: str, encoded: dict[str, Any]) -> Any:
    """The record as it was handed in: defaults for fields an older payload lacks, no checks."""
    cls = _RECORDS[name]
    fields = _FIELDS[cls]
    known = {f.name for f in fields}
    unknown = set(encoded) - known
    if unknown:
        raise ValueError(f"{name} has no field(s) {sorted(unknown)}: written by a newer QTS?")
    obj = object.__new__(cls)
    for f in fields:
        if f.name in encoded:
            value = _decode(encoded[f.name])
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise ValueError(f"{name} payload lacks required field {f.name}")
        object.__setattr__(obj, f.name, value)  # also works on frozen records
    return obj


def encode_op(method: str, args: dict[str, Any]) -> str:
    """One write call as text; raises StorageError for a value that cannot be kept faithfully."""
    names = WRITE_METHODS.get(method)
    if names is None:
        raise StorageError(f"hybrid: {method}: not a write of the TradingStore port")
    try:
        encoded = {name: _encode(args[name]) for name in names}
        return json.dumps(
            {"v": FORMAT_VERSION, "m": method, "a": encoded},
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError, KeyError, RecursionError) as exc:
        raise StorageError(f"hybrid: {method}: cannot serialise for the outbox: {exc}") from exc


def decode_op(payload: str) -> tuple[str, dict[str, Any]]:
    """The (method, arguments) of one outbox entry; StorageError if this QTS cannot read it."""
    try:
        doc = json.loads(payload)
        version = doc["v"]
        if type(version) is not int or version > FORMAT_VERSION or version < 1:
            raise ValueError(f"format version {version!r}; this QTS reads 1..{FORMAT_VERSION}")
        method = doc["m"]
        names = WRITE_METHODS[method]
        raw = doc["a"]
        if set(raw) != set(names):
            raise ValueError(f"{method} arguments {sorted(raw)}, expected {sorted(names)}")
        return method, {name: _decode(raw[name]) for name in names}
    except (ValueError, KeyError, TypeError, LookupError) as exc:
        raise StorageError(f"hybrid: outbox entry cannot be read: {exc}") from exc


def apply_op(store: TradingStore, method: str, args: dict[str, Any]) -> Any:
    """Call ``store.<method>(**args)``: the write replayed exactly as it was made."""
    call: Callable[..., Any] = getattr(store, method)
    return call(**args)
