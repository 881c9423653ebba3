"""How the SQLite trading store's records are rows: the column lists, the statements that write
them, and the functions that turn a record into a row and a row back into a record.

One file for both directions because they must agree: a column list, the tuple its statement
takes and the tuple a load reads back are in the same order, and a change to one is a change to
all three. Timestamps are stored as fixed-width UTC ISO text (sortable as text) and restored
timezone-aware in the store's zone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

from qts.core.time import from_iso, require_aware
from qts.data.ports import DecisionRecord
from qts.data.records import strict_json
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

# ------------------------------------------------------------------ columns and statements

ORDER_COLUMNS = (
    "client_order_id, symbol, side, order_type, qty, limit_price, created_at, strategy, track, "
    "status, filled_qty, filled_amount, venue_order_id, reason, updated_at, fill_ids"
)
UPSERT_ORDER = (
    f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({', '.join('?' * 16)}) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    "symbol = excluded.symbol, side = excluded.side, order_type = excluded.order_type, "
    "qty = excluded.qty, limit_price = excluded.limit_price, created_at = excluded.created_at, "
    "strategy = excluded.strategy, track = excluded.track, status = excluded.status, "
    "filled_qty = excluded.filled_qty, filled_amount = excluded.filled_amount, "
    "venue_order_id = excluded.venue_order_id, reason = excluded.reason, "
    "updated_at = excluded.updated_at, fill_ids = excluded.fill_ids"
)
FILL_EXISTS = "SELECT 1 FROM fills WHERE fill_id = ?"
CLEAR_PENDING = "DELETE FROM account_pending"
INSERT_PENDING = "INSERT INTO account_pending (settle_date, amount) VALUES (?, ?)"
FILL_COLUMNS = "fill_id, client_order_id, symbol, side, qty, price, ts, commission, tax"
INSERT_FILL = f"INSERT INTO fills ({FILL_COLUMNS}) VALUES ({', '.join('?' * 9)})"
LEDGER_COLUMNS = (
    "seq, ts, symbol, market, side, qty, price, amount, commission, tax, net_amount, "
    "client_order_id, fill_id, strategy, position_after, pnl, settle_date"
)
INSERT_LEDGER = f"INSERT INTO t_ledger ({LEDGER_COLUMNS}) VALUES ({', '.join('?' * 17)})"
POSITION_COLUMNS = (
    "symbol, qty, cost_basis, realized_pnl, last_price, opened_at, track, strategy, "
    "high_since_open, low_since_open"
)
UPSERT_POSITION = (
    f"INSERT INTO positions ({POSITION_COLUMNS}) VALUES ({', '.join('?' * 10)}) "
    "ON CONFLICT (symbol) DO UPDATE SET "
    "qty = excluded.qty, cost_basis = excluded.cost_basis, "
    "realized_pnl = excluded.realized_pnl, last_price = excluded.last_price, "
    "opened_at = excluded.opened_at, track = excluded.track, strategy = excluded.strategy, "
    "high_since_open = excluded.high_since_open, low_since_open = excluded.low_since_open"
)
UPSERT_CASH = (
    "INSERT INTO account (id, cash) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET cash = excluded.cash"
)
DECISION_COLUMNS = (
    "ts, cycle_id, symbol, action, strategy, price, qty, approved, reason, act_status, metadata"
)
INSERT_DECISION = f"INSERT INTO decision_log ({DECISION_COLUMNS}) VALUES ({', '.join('?' * 11)})"
EQUITY_COLUMNS = "ts, cash, market_value, equity, realized, unrealized, fees"
UPSERT_EQUITY = (
    f"INSERT INTO equity_history ({EQUITY_COLUMNS}) VALUES ({', '.join('?' * 7)}) "
    "ON CONFLICT (ts) DO UPDATE SET cash = excluded.cash, market_value = excluded.market_value, "
    "equity = excluded.equity, realized = excluded.realized, unrealized = excluded.unrealized, "
    "fees = excluded.fees"
)

# ------------------------------------------------------------------ timestamps


@lru_cache(maxsize=4096)
def utc_text(value: datetime) -> str:
    """Fixed-width UTC text, so text order is time order and one instant has one spelling.

    Cached: a cycle writes the same few instants many times (orders, fills, decisions)."""
    return require_aware(value).astimezone(UTC).isoformat(timespec="microseconds")


def utc_text_opt(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def from_utc_text(text: str, tz: tzinfo) -> datetime:
    """The stored instant, aware in ``tz``."""
    return from_iso(text).astimezone(tz)


def from_utc_text_opt(text: str | None, tz: tzinfo) -> datetime | None:
    return None if text is None else from_utc_text(text, tz)


# ------------------------------------------------------------------ records to rows


def order_row(o: Order) -> tuple[Any, ...]:
    return (
        o.client_order_id,
        o.symbol,
        str(o.side),
        str(o.order_type),
        o.qty,
        o.limit_price,
        utc_text(o.created_at),
        o.strategy,
        str(o.track),
        str(o.status),
        o.filled_qty,
        o.filled_amount,
        o.venue_order_id,
        o.reason,
        utc_text_opt(o.updated_at),
        strict_json(sorted(o.fill_ids)),
    )


def fill_row(f: Fill) -> tuple[Any, ...]:
    return (
        f.fill_id,
        f.client_order_id,
        f.symbol,
        str(f.side),
        f.qty,
        f.price,
        utc_text(f.ts),
        f.commission,
        f.tax,
    )


def ledger_row(e: LedgerEntry) -> tuple[Any, ...]:
    return (
        e.seq,
        utc_text(e.ts),
        e.symbol,
        e.market,
        str(e.side),
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


def position_row(p: Position) -> tuple[Any, ...]:
    return (
        p.symbol,
        p.qty,
        p.cost_basis,
        p.realized_pnl,
        p.last_price,
        utc_text_opt(p.opened_at),
        str(p.track),
        p.strategy,
        p.high_since_open,
        p.low_since_open,
    )


def decision_row(d: DecisionRecord) -> tuple[Any, ...]:
    return (
        utc_text(d.ts),
        d.cycle_id,
        d.symbol,
        d.action,
        d.strategy,
        d.price,
        d.qty,
        int(d.approved),
        d.reason,
        d.act_status,
        strict_json(d.metadata),
    )


# ------------------------------------------------------------------ rows to records

# What can fail here (an unknown enum text, bad JSON, a bad timestamp) raises ValueError; the
# store turns it into StorageError naming the call.


def order_from_row(row: tuple[Any, ...], tz: tzinfo) -> Order:
    return Order(
        client_order_id=row[0],
        symbol=row[1],
        side=OrderSide(row[2]),
        order_type=OrderType(row[3]),
        qty=row[4],
        limit_price=row[5],
        created_at=from_utc_text(row[6], tz),
        strategy=row[7],
        track=Track(row[8]),
        status=OrderStatus(row[9]),
        filled_qty=row[10],
        filled_amount=row[11],
        venue_order_id=row[12],
        reason=row[13],
        updated_at=from_utc_text_opt(row[14], tz),
        fill_ids=set(json.loads(row[15])),
    )


def fill_from_row(r: tuple[Any, ...], tz: tzinfo) -> Fill:
    return Fill(
        fill_id=r[0],
        client_order_id=r[1],
        symbol=r[2],
        side=OrderSide(r[3]),
        qty=r[4],
        price=r[5],
        ts=from_utc_text(r[6], tz),
        commission=r[7],
        tax=r[8],
    )


def ledger_entry_from_row(r: tuple[Any, ...], tz: tzinfo) -> LedgerEntry:
    return LedgerEntry(
        seq=r[0],
        ts=from_utc_text(r[1], tz),
        symbol=r[2],
        market=r[3],
        side=OrderSide(r[4]),
        qty=r[5],
        price=r[6],
        amount=r[7],
        commission=r[8],
        tax=r[9],
        net_amount=r[10],
        client_order_id=r[11],
        fill_id=r[12],
        strategy=r[13],
        position_after=r[14],
        pnl=r[15],
        settle_date=r[16],
    )


def position_from_row(r: tuple[Any, ...], tz: tzinfo) -> Position:
    return Position(
        symbol=r[0],
        qty=r[1],
        cost_basis=r[2],
        realized_pnl=r[3],
        last_price=r[4],
        opened_at=from_utc_text_opt(r[5], tz),
        track=Track(r[6]),
        strategy=r[7],
        high_since_open=r[8],
        low_since_open=r[9],
    )


def decision_from_row(r: tuple[Any, ...], tz: tzinfo) -> DecisionRecord:
    return DecisionRecord(
        ts=from_utc_text(r[0], tz),
        cycle_id=r[1],
        symbol=r[2],
        action=r[3],
        strategy=r[4],
        price=r[5],
        qty=r[6],
        approved=bool(r[7]),
        reason=r[8],
        act_status=r[9],
        metadata=json.loads(r[10]),
    )
