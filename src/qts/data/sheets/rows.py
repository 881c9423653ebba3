"""The QTS sheets' rows: each port record written as one row of text, and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, tzinfo
from typing import Any

from qts.core.errors import StorageError
from qts.data.ports import (
    AccountState,
    DecisionRecord,
    EquityPoint,
    JsonDict,
    RunMeta,
    SafetyEventRecord,
)
from qts.data.sheets import cells
from qts.data.sheets.model import (
    QTS_ACCOUNT,
    QTS_DECISIONS,
    QTS_EQUITY,
    QTS_FILLS,
    QTS_LEDGER,
    QTS_ORDERS,
    QTS_POSITIONS,
    QTS_RUN,
    QTS_SAFETY,
    QTS_STATE,
    SheetSpec,
)
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

Cell = Any
Rows = list[list[Cell]]


def _opt(value: Any) -> str:
    return "" if value is None else str(value)


def run_row(m: RunMeta) -> list[Cell]:
    return [
        m.run_id,
        m.mode,
        str(m.initial_cash),
        _opt(m.seed),
        cells.ts_text(m.started_at),
        cells.json_text(m.config),
    ]


def order_row(o: Order) -> list[Cell]:
    return [
        o.client_order_id,
        o.symbol,
        str(o.side),
        str(o.order_type),
        str(o.qty),
        _opt(o.limit_price),
        cells.ts_text(o.created_at),
        o.strategy,
        str(o.track),
        str(o.status),
        str(o.filled_qty),
        str(o.filled_amount),
        "" if o.venue_order_id is None else json.dumps(o.venue_order_id, ensure_ascii=False),
        o.reason,
        "" if o.updated_at is None else cells.ts_text(o.updated_at),
        cells.json_text(sorted(o.fill_ids)),
    ]


def fill_row(f: Fill) -> list[Cell]:
    return [
        f.fill_id,
        f.client_order_id,
        f.symbol,
        str(f.side),
        str(f.qty),
        str(f.price),
        cells.ts_text(f.ts),
        str(f.commission),
        str(f.tax),
    ]


def ledger_row(e: LedgerEntry) -> list[Cell]:
    return [
        str(e.seq),
        cells.ts_text(e.ts),
        e.symbol,
        e.market,
        str(e.side),
        str(e.qty),
        str(e.price),
        str(e.amount),
        str(e.commission),
        str(e.tax),
        str(e.net_amount),
        e.client_order_id,
        e.fill_id,
        e.strategy,
        str(e.position_after),
        str(e.pnl),
        e.settle_date,
    ]


def position_row(p: Position) -> list[Cell]:
    return [
        p.symbol,
        str(p.qty),
        str(p.cost_basis),
        str(p.realized_pnl),
        str(p.last_price),
        "" if p.opened_at is None else cells.ts_text(p.opened_at),
        str(p.track),
        p.strategy,
        str(p.high_since_open),
        str(p.low_since_open),
    ]


def decision_row(d: DecisionRecord) -> list[Cell]:
    return [
        cells.ts_text(d.ts),
        d.cycle_id,
        d.symbol,
        d.action,
        d.strategy,
        _opt(d.price),
        _opt(d.qty),
        "TRUE" if d.approved else "FALSE",
        d.reason,
        d.act_status,
        cells.json_text(d.metadata),
    ]


def equity_row(p: EquityPoint) -> list[Cell]:
    return [
        cells.ts_text(p.ts),
        str(p.cash),
        str(p.market_value),
        str(p.equity),
        str(p.realized),
        str(p.unrealized),
        str(p.fees),
    ]


def safety_row(e: SafetyEventRecord) -> list[Cell]:
    return [
        cells.ts_text(e.ts),
        e.kind,
        e.code,
        e.message,
        e.state_before,
        e.state_after,
        e.operator,
    ]


# ---------------------------------------------------------------- the views


class Parsed:
    """The QTS sheets' data rows turned back into port records; errors name sheet and row."""

    def __init__(self, data: dict[str, Rows], tz: tzinfo) -> None:
        self._data = data
        self._tz = tz

    def _rows(self, spec: SheetSpec) -> Iterator[tuple[str, list[str]]]:
        for i, row in enumerate(self._data.get(spec.name, [])):
            if not any(str(v).strip() for v in row):
                continue
            where = f"{spec.name}!row {spec.row_start + i}"
            yield where, [str(v) for v in row] + [""] * (spec.width - len(row))

    @contextmanager
    def _at(self, where: str) -> Iterator[None]:
        try:
            yield
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
            raise StorageError(f"cannot read {where}: {exc}") from None

    def run(self) -> RunMeta | None:
        for where, r in self._rows(QTS_RUN):
            with self._at(where):
                return RunMeta(
                    run_id=r[0],
                    mode=r[1],
                    initial_cash=cells.parse_int(r[2], "initial_cash"),
                    seed=cells.parse_int_opt(r[3], "seed"),
                    started_at=cells.parse_ts(r[4], "started_at"),
                    config=json.loads(r[5] or "{}"),
                )
        return None

    def orders(self) -> dict[str, Order]:
        out: dict[str, Order] = {}
        for where, r in self._rows(QTS_ORDERS):
            with self._at(where):
                order = Order(
                    client_order_id=r[0],
                    symbol=r[1],
                    side=OrderSide(r[2]),
                    order_type=OrderType(r[3]),
                    qty=cells.parse_int(r[4], "qty"),
                    limit_price=cells.parse_int_opt(r[5], "limit_price"),
                    created_at=cells.parse_ts(r[6], "created_at"),
                    strategy=r[7],
                    track=Track(r[8]),
                    status=OrderStatus(r[9]),
                    filled_qty=cells.parse_int(r[10], "filled_qty"),
                    filled_amount=cells.parse_int(r[11], "filled_amount"),
                    venue_order_id=json.loads(r[12]) if r[12] else None,
                    reason=r[13],
                    updated_at=cells.parse_ts(r[14], "updated_at") if r[14] else None,
                    fill_ids=set(json.loads(r[15] or "[]")),
                )
                out[order.client_order_id] = order
        return out

    def fills(self) -> list[Fill]:
        out = []
        for where, r in self._rows(QTS_FILLS):
            with self._at(where):
                out.append(
                    Fill(
                        fill_id=r[0],
                        client_order_id=r[1],
                        symbol=r[2],
                        side=OrderSide(r[3]),
                        qty=cells.parse_int(r[4], "qty"),
                        price=cells.parse_int(r[5], "price"),
                        ts=cells.parse_ts(r[6], "ts"),
                        commission=cells.parse_int(r[7], "commission"),
                        tax=cells.parse_int(r[8], "tax"),
                    )
                )
        return out

    def ledger(self) -> list[LedgerEntry]:
        out = []
        for where, r in self._rows(QTS_LEDGER):
            p = cells.parse_int
            with self._at(where):
                out.append(
                    LedgerEntry(
                        seq=p(r[0], "seq"),
                        ts=cells.parse_ts(r[1], "ts"),
                        symbol=r[2],
                        market=r[3],
                        side=OrderSide(r[4]),
                        qty=p(r[5], "qty"),
                        price=p(r[6], "price"),
                        amount=p(r[7], "amount"),
                        commission=p(r[8], "commission"),
                        tax=p(r[9], "tax"),
                        net_amount=p(r[10], "net_amount"),
                        client_order_id=r[11],
                        fill_id=r[12],
                        strategy=r[13],
                        position_after=p(r[14], "position_after"),
                        pnl=p(r[15], "pnl"),
                        settle_date=r[16],
                    )
                )
        return sorted(out, key=lambda e: e.seq)

    def positions(self) -> dict[str, Position]:
        out: dict[str, Position] = {}
        for where, r in self._rows(QTS_POSITIONS):
            p = cells.parse_int
            with self._at(where):
                out[r[0]] = Position(
                    symbol=r[0],
                    qty=p(r[1], "qty"),
                    cost_basis=p(r[2], "cost_basis"),
                    realized_pnl=p(r[3], "realized_pnl"),
                    last_price=p(r[4], "last_price"),
                    opened_at=cells.parse_ts(r[5], "opened_at") if r[5] else None,
                    track=Track(r[6]),
                    strategy=r[7],
                    high_since_open=p(r[8], "high_since_open"),
                    low_since_open=p(r[9], "low_since_open"),
                )
        return out

    def account(self) -> AccountState | None:
        cash: int | None = None
        pending: dict[date, int] = {}
        for where, r in self._rows(QTS_ACCOUNT):
            with self._at(where):
                if r[0] == "cash":
                    cash = cells.parse_int(r[2], "amount")
                elif r[0] == "pending":
                    pending[date.fromisoformat(r[1])] = cells.parse_int(r[2], "amount")
                else:
                    raise ValueError(f"item {r[0]!r} is neither 'cash' nor 'pending'")
        if cash is None:
            if pending:
                raise StorageError(f"{QTS_ACCOUNT.name}: pending settlements but no cash row")
            return None
        return AccountState(cash, pending)

    def decisions(self) -> list[DecisionRecord]:
        out = []
        for where, r in self._rows(QTS_DECISIONS):
            with self._at(where):
                if r[7] not in ("TRUE", "FALSE"):
                    raise ValueError(f"approved {r[7]!r} is not TRUE or FALSE")
                out.append(
                    DecisionRecord(
                        ts=cells.parse_ts(r[0], "ts"),
                        cycle_id=r[1],
                        symbol=r[2],
                        action=r[3],
                        strategy=r[4],
                        price=cells.parse_int_opt(r[5], "price"),
                        qty=cells.parse_int_opt(r[6], "qty"),
                        approved=r[7] == "TRUE",
                        reason=r[8],
                        act_status=r[9],
                        metadata=json.loads(r[10] or "{}"),
                    )
                )
        return out

    def equity(self) -> list[EquityPoint]:
        out = []
        for where, r in self._rows(QTS_EQUITY):
            p = cells.parse_int
            with self._at(where):
                out.append(
                    EquityPoint(
                        cells.parse_ts(r[0], "ts"),
                        p(r[1], "cash"),
                        p(r[2], "market_value"),
                        p(r[3], "equity"),
                        p(r[4], "realized"),
                        p(r[5], "unrealized"),
                        p(r[6], "fees"),
                    )
                )
        return out

    def safety(self) -> list[SafetyEventRecord]:
        out = []
        for where, r in self._rows(QTS_SAFETY):
            with self._at(where):
                out.append(
                    SafetyEventRecord(
                        cells.parse_ts(r[0], "ts"), r[1], r[2], r[3], r[4], r[5], r[6]
                    )
                )
        return out

    def state(self) -> list[tuple[str, JsonDict]]:
        out = []
        for where, r in self._rows(QTS_STATE):
            with self._at(where):
                doc = json.loads(r[1])
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
                out.append((r[0], doc))
        return out
