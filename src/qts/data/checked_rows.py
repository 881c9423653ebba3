"""Stored rows and the value checks behind them, shared by the in-memory and PostgreSQL stores.

A store keeps a record as a tuple in its dataclass's field order, built from values checked
against the port's declared types the way SQLite's STRICT schema checks them: an integer column
takes ``int`` (``bool``, ``int`` subclasses and integral floats become ``int``; a fractional
float, a numpy integer or anything beyond 64 bits is refused), a text column takes ``str``, an
enum column takes the enum or its text, a timestamp must be aware. A check raises ValueError,
TypeError or OverflowError; the store turns that into StorageError. The market store
(:mod:`qts.data.sqlite_market`) uses the same value checks.

These run per fill and per order in every backtest, so each has an inline fast path (see the
section comments) and the callers import the functions themselves, not this module.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timezone
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from qts.core.time import from_iso, require_aware
from qts.data.ports import DecisionRecord, EquityPoint, RunMeta, SafetyEventRecord
from qts.data.records import strict_json
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

_E = TypeVar("_E", bound=StrEnum)
Row = tuple[Any, ...]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
# tzinfo classes whose utcoffset() never returns None: an aware check without calling it.
ALWAYS_AWARE = (ZoneInfo, timezone)

# ------------------------------------------------------------------ value checks
#
# Each check returns the value as stored. The first test is the common case and costs a few
# tens of nanoseconds; anything else goes to the slow path, which normalises or refuses.


def as_int(value: Any, name: str) -> int:
    if type(value) is int and I64_MIN <= value <= I64_MAX:
        return value
    return _int_slow(value, name)


def _int_slow(value: Any, name: str) -> int:
    if value is None:
        raise ValueError(f"{name} must not be null")
    if isinstance(value, float):
        if not value.is_integer():
            raise TypeError(f"{name} must be an integer, got float {value!r}")
        value = int(value)
    elif isinstance(value, int):
        value = int(value)  # bool and int subclasses are stored as plain int
    else:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not I64_MIN <= value <= I64_MAX:
        raise OverflowError(f"{name} {value} does not fit in 64 bits")
    return value


def _int_opt(value: Any, name: str) -> int | None:
    return None if value is None else as_int(value, name)


def as_positive(value: Any, name: str) -> int:
    v = as_int(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be positive, got {v}")
    return v


def as_non_negative(value: Any, name: str) -> int:
    v = as_int(value, name)
    if v < 0:
        raise ValueError(f"{name} must not be negative, got {v}")
    return v


def as_text(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if value is None:
        raise ValueError(f"{name} must not be null")
    raise TypeError(f"{name} must be text, got {type(value).__name__} {value!r}")


def _text_opt(value: Any, name: str) -> str | None:
    return None if value is None else as_text(value, name)


def _enum(cls: type[_E], value: Any, name: str) -> _E:
    if type(value) is cls:
        return value
    if isinstance(value, str):
        try:
            return cls(str.__str__(value))
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(f"{name} {value!r} is not one of {choices}") from None
    if value is None:
        raise ValueError(f"{name} must not be null")
    raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__} {value!r}")


def as_ts(value: Any, name: str) -> datetime:
    """An aware datetime, kept as given; converted to the store's zone when loaded."""
    if (
        type(value) is datetime
        and type(value.tzinfo) in ALWAYS_AWARE
        and 1 < value.year < 9999  # far enough from the ends that UTC and any zone fit
    ):
        return value
    return _ts_slow(value, name)


def _ts_slow(value: Any, name: str) -> datetime:
    """SqliteStore's spelling (UTC, microseconds) read back: the same instant it would keep."""
    if value is None:
        raise ValueError(f"{name} must not be null")
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__} {value!r}")
    text = require_aware(value, name).astimezone(UTC).isoformat(timespec="microseconds")
    return from_iso(text)


def as_ts_opt(value: Any, name: str) -> datetime | None:
    return None if value is None else as_ts(value, name)


def _fill_ids(value: Any) -> frozenset[str]:
    ids = frozenset(value)
    for fill_id in ids:
        if type(fill_id) is not str:
            raise TypeError(f"order fill_ids must be text, got {type(fill_id).__name__}")
    return ids


def as_pending(value: dict[date, int]) -> dict[date, int]:
    """A private copy of pending settlements: date keys, integer amounts."""
    out: dict[date, int] = {}
    for day, amount in value.items():
        if type(day) is not date:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"pending settle date must be a date, got {day!r}")
            day = date(day.year, day.month, day.day)
        out[day] = as_int(amount, "pending amount")
    return out


def _same_instant(a: datetime, b: datetime) -> bool:
    return a is b or a.astimezone(UTC) == b.astimezone(UTC)


# ------------------------------------------------------------------ rows
#
# Stored rows are tuples in the dataclass's field order, built from checked values; loads build
# fresh objects from them, so nothing a caller holds is ever shared with the store.
#
# The four rows written per fill have a fast path: one inline test that every field already has
# its exact stored type and range (no call per field). Anything else goes through the checked
# builder, which normalises a value or names the field that cannot be stored.


def _all_text(ids: frozenset[Any]) -> bool:
    return all(type(fill_id) is str for fill_id in ids)


def make_order_row(o: Order) -> Row:
    row = (
        o.client_order_id,
        o.symbol,
        o.side,
        o.order_type,
        o.qty,
        o.created_at,
        o.limit_price,
        o.strategy,
        o.track,
        o.status,
        o.filled_qty,
        o.filled_amount,
        o.venue_order_id,
        o.reason,
        o.updated_at,
        frozenset(o.fill_ids),
    )
    cid, sym, side, kind, qty, created, limit, strat, track, status, fq, fa, vid, why, upd, ids = (
        row
    )
    if (
        type(cid) is str
        and type(sym) is str
        and type(side) is OrderSide
        and type(kind) is OrderType
        and type(qty) is int
        and 0 < qty <= I64_MAX
        and type(created) is datetime
        and type(created.tzinfo) in ALWAYS_AWARE
        and 1 < created.year < 9999
        and (limit is None or (type(limit) is int and I64_MIN <= limit <= I64_MAX))
        and type(strat) is str
        and type(track) is Track
        and type(status) is OrderStatus
        and type(fq) is int
        and 0 <= fq <= qty
        and type(fa) is int
        and 0 <= fa <= I64_MAX
        and (vid is None or type(vid) is str)
        and type(why) is str
        and (
            upd is None
            or (type(upd) is datetime and type(upd.tzinfo) in ALWAYS_AWARE and 1 < upd.year < 9999)
        )
        and (not ids or _all_text(ids))
    ):
        return row
    return _order_row_checked(o)


def make_fill_row(f: Fill) -> Row:
    row = (
        f.fill_id,
        f.client_order_id,
        f.symbol,
        f.side,
        f.qty,
        f.price,
        f.ts,
        f.commission,
        f.tax,
    )
    fid, cid, sym, side, qty, price, ts, commission, tax = row
    if (
        type(fid) is str
        and type(cid) is str
        and type(sym) is str
        and type(side) is OrderSide
        and type(qty) is int
        and 0 < qty <= I64_MAX
        and type(price) is int
        and 0 < price <= I64_MAX
        and type(ts) is datetime
        and type(ts.tzinfo) in ALWAYS_AWARE
        and 1 < ts.year < 9999
        and type(commission) is int
        and 0 <= commission <= I64_MAX
        and type(tax) is int
        and 0 <= tax <= I64_MAX
    ):
        return row
    return _fill_row_checked(f)


def make_ledger_row(e: LedgerEntry) -> Row:
    row = (
        e.seq,
        e.ts,
        e.symbol,
        e.market,
        e.side,
        e.qty,
        e.price,
        e.amount,
        e.commission,
        e.tax,
        e.net_amount,
        e.client_order_id,
        e.fill_id,
        e.strategy,
        e.position_after,
        e.pnl,
        e.settle_date,
    )
    (
        seq,
        ts,
        sym,
        market,
        side,
        qty,
        price,
        amount,
        com,
        tax,
        net,
        cid,
        fid,
        strat,
        after,
        pnl,
        day,
    ) = row
    if (
        type(seq) is int
        and 0 < seq <= I64_MAX
        and type(ts) is datetime
        and type(ts.tzinfo) in ALWAYS_AWARE
        and 1 < ts.year < 9999
        and type(sym) is str
        and type(market) is str
        and type(side) is OrderSide
        and type(qty) is int
        and 0 < qty <= I64_MAX
        and type(price) is int
        and I64_MIN <= price <= I64_MAX
        and type(amount) is int
        and I64_MIN <= amount <= I64_MAX
        and type(com) is int
        and I64_MIN <= com <= I64_MAX
        and type(tax) is int
        and I64_MIN <= tax <= I64_MAX
        and type(net) is int
        and I64_MIN <= net <= I64_MAX
        and type(cid) is str
        and type(fid) is str
        and type(strat) is str
        and type(after) is int
        and I64_MIN <= after <= I64_MAX
        and type(pnl) is int
        and I64_MIN <= pnl <= I64_MAX
        and type(day) is str
    ):
        return row
    return _ledger_row_checked(e)


def make_position_row(p: Position) -> Row:
    row = (
        p.symbol,
        p.qty,
        p.cost_basis,
        p.realized_pnl,
        p.last_price,
        p.opened_at,
        p.track,
        p.strategy,
        p.high_since_open,
        p.low_since_open,
    )
    sym, qty, cost, realized, last, opened, track, strat, high, low = row
    if (
        type(sym) is str
        and type(qty) is int
        and 0 <= qty <= I64_MAX
        and type(cost) is int
        and I64_MIN <= cost <= I64_MAX
        and type(realized) is int
        and I64_MIN <= realized <= I64_MAX
        and type(last) is int
        and I64_MIN <= last <= I64_MAX
        and (
            opened is None
            or (
                type(opened) is datetime
                and type(opened.tzinfo) in ALWAYS_AWARE
                and 1 < opened.year < 9999
            )
        )
        and type(track) is Track
        and type(strat) is str
        and type(high) is int
        and I64_MIN <= high <= I64_MAX
        and type(low) is int
        and I64_MIN <= low <= I64_MAX
    ):
        return row
    return _position_row_checked(p)


def _order_row_checked(o: Order) -> Row:
    qty = as_positive(o.qty, "order qty")
    filled_qty = as_int(o.filled_qty, "order filled_qty")
    if not 0 <= filled_qty <= qty:
        raise ValueError(f"order filled_qty {filled_qty} is not between 0 and qty {qty}")
    return (
        as_text(o.client_order_id, "order client_order_id"),
        as_text(o.symbol, "order symbol"),
        _enum(OrderSide, o.side, "order side"),
        _enum(OrderType, o.order_type, "order order_type"),
        qty,
        as_ts(o.created_at, "order created_at"),
        _int_opt(o.limit_price, "order limit_price"),
        as_text(o.strategy, "order strategy"),
        _enum(Track, o.track, "order track"),
        _enum(OrderStatus, o.status, "order status"),
        filled_qty,
        as_non_negative(o.filled_amount, "order filled_amount"),
        _text_opt(o.venue_order_id, "order venue_order_id"),
        as_text(o.reason, "order reason"),
        as_ts_opt(o.updated_at, "order updated_at"),
        _fill_ids(o.fill_ids),
    )


# Positions of the order's identity in an order row, for messages.
_IDENTITY = (
    (1, "symbol"),
    (2, "side"),
    (3, "order_type"),
    (4, "qty"),
    (6, "limit_price"),
)


def identity_clash(old: Row, new: Row) -> str:
    """What differs between two rows of one client order id ('' if they name the same order)."""
    if (
        old[1] == new[1]
        and old[2] is new[2]
        and old[3] is new[3]
        and old[4] == new[4]
        and old[6] == new[6]
        and _same_instant(old[5], new[5])
    ):
        return ""
    diffs = [
        f"{name} stored {old[i]!r}, given {new[i]!r}" for i, name in _IDENTITY if old[i] != new[i]
    ]
    if not _same_instant(old[5], new[5]):
        diffs.append(f"created_at stored {old[5].isoformat()}, given {new[5].isoformat()}")
    return "client order id already names a different order: " + "; ".join(diffs)


def _fill_row_checked(f: Fill) -> Row:
    return (
        as_text(f.fill_id, "fill fill_id"),
        as_text(f.client_order_id, "fill client_order_id"),
        as_text(f.symbol, "fill symbol"),
        _enum(OrderSide, f.side, "fill side"),
        as_positive(f.qty, "fill qty"),
        as_positive(f.price, "fill price"),
        as_ts(f.ts, "fill ts"),
        as_non_negative(f.commission, "fill commission"),
        as_non_negative(f.tax, "fill tax"),
    )


def _ledger_row_checked(e: LedgerEntry) -> Row:
    return (
        as_positive(e.seq, "ledger seq"),
        as_ts(e.ts, "ledger ts"),
        as_text(e.symbol, "ledger symbol"),
        as_text(e.market, "ledger market"),
        _enum(OrderSide, e.side, "ledger side"),
        as_positive(e.qty, "ledger qty"),
        as_int(e.price, "ledger price"),
        as_int(e.amount, "ledger amount"),
        as_int(e.commission, "ledger commission"),
        as_int(e.tax, "ledger tax"),
        as_int(e.net_amount, "ledger net_amount"),
        as_text(e.client_order_id, "ledger client_order_id"),
        as_text(e.fill_id, "ledger fill_id"),
        as_text(e.strategy, "ledger strategy"),
        as_int(e.position_after, "ledger position_after"),
        as_int(e.pnl, "ledger pnl"),
        as_text(e.settle_date, "ledger settle_date"),
    )


def _position_row_checked(p: Position) -> Row:
    return (
        as_text(p.symbol, "position symbol"),
        as_non_negative(p.qty, "position qty"),
        as_int(p.cost_basis, "position cost_basis"),
        as_int(p.realized_pnl, "position realized_pnl"),
        as_int(p.last_price, "position last_price"),
        as_ts_opt(p.opened_at, "position opened_at"),
        _enum(Track, p.track, "position track"),
        as_text(p.strategy, "position strategy"),
        as_int(p.high_since_open, "position high_since_open"),
        as_int(p.low_since_open, "position low_since_open"),
    )


def make_decision_row(d: DecisionRecord) -> Row:
    """The common row (text fields, whole-won numbers or None, a bool, no metadata) checked
    inline: a commit records every evaluated decision of the cycle."""
    ts, cid, sym, action, strat, price, qty, approved, reason, status, meta = (
        d.ts,
        d.cycle_id,
        d.symbol,
        d.action,
        d.strategy,
        d.price,
        d.qty,
        d.approved,
        d.reason,
        d.act_status,
        d.metadata,
    )
    if (
        type(ts) is datetime
        and type(ts.tzinfo) in ALWAYS_AWARE
        and 1 < ts.year < 9999
        and type(cid) is str
        and type(sym) is str
        and type(action) is str
        and type(strat) is str
        and (price is None or (type(price) is int and I64_MIN <= price <= I64_MAX))
        and (qty is None or (type(qty) is int and I64_MIN <= qty <= I64_MAX))
        and type(approved) is bool
        and type(reason) is str
        and type(status) is str
        and type(meta) is dict
        and not meta
    ):
        return (ts, cid, sym, action, strat, price, qty, approved, reason, status, "{}")
    return _decision_row_checked(d)


def _decision_row_checked(d: DecisionRecord) -> Row:
    approved = int(d.approved)
    if approved not in (0, 1):
        raise ValueError(f"decision approved must be a boolean, got {d.approved!r}")
    return (
        as_ts(d.ts, "decision ts"),
        as_text(d.cycle_id, "decision cycle_id"),
        as_text(d.symbol, "decision symbol"),
        as_text(d.action, "decision action"),
        as_text(d.strategy, "decision strategy"),
        _int_opt(d.price, "decision price"),
        _int_opt(d.qty, "decision qty"),
        bool(approved),
        as_text(d.reason, "decision reason"),
        as_text(d.act_status, "decision act_status"),
        strict_json(d.metadata),
    )


def make_equity_row(p: EquityPoint) -> Row:
    return (
        as_ts(p.ts, "equity ts"),
        as_int(p.cash, "equity cash"),
        as_int(p.market_value, "equity market_value"),
        as_int(p.equity, "equity equity"),
        as_int(p.realized, "equity realized"),
        as_int(p.unrealized, "equity unrealized"),
        as_int(p.fees, "equity fees"),
    )


def make_safety_row(e: SafetyEventRecord) -> Row:
    return (
        as_ts(e.ts, "safety event ts"),
        as_text(e.kind, "safety event kind"),
        as_text(e.code, "safety event code"),
        as_text(e.message, "safety event message"),
        as_text(e.state_before, "safety event state_before"),
        as_text(e.state_after, "safety event state_after"),
        as_text(e.operator, "safety event operator"),
    )


def make_meta_row(m: RunMeta) -> Row:
    return (
        as_text(m.run_id, "run_id"),
        as_text(m.mode, "mode"),
        as_non_negative(m.initial_cash, "initial_cash"),
        as_ts(m.started_at, "started_at"),
        _int_opt(m.seed, "seed"),
        strict_json(m.config),
    )
