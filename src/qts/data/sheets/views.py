"""The user sheets the operator knows (Position, T_Ledger, History), rendered from the records."""

from __future__ import annotations

import math
from datetime import date, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from qts.data.ports import EquityPoint
from qts.data.sheets import cells
from qts.data.sheets.rows import Cell, Rows
from qts.model.ledger import LedgerEntry
from qts.model.position import Position


def _won(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def position_view(p: Position, market: str) -> list[Cell]:
    avg = _won(p.avg_price)
    pct = p.unrealized_pnl / p.cost_basis if p.qty and p.cost_basis else None
    n = cells.number_cell
    return [
        p.symbol,
        "",  # Name: the store knows no instrument names
        market,
        n(p.qty),
        n(avg),
        n(p.last_price),
        n(avg),
        n(p.last_price),
        n(p.market_value),
        n(p.unrealized_pnl),
        cells.pct_text(pct),
        p.strategy,
        "",
        "",
        "",
        "",
        "",
        "",
        str(p.track),
        "",
    ]


def ledger_view(e: LedgerEntry, tz: tzinfo) -> list[Cell]:
    n = cells.number_cell
    return [
        e.ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        e.symbol,
        e.market,
        str(e.side),
        n(e.qty),
        n(e.price),
        n(e.amount),
        "KRW",
        1,
        n(e.amount),
        n(e.commission + e.tax),
        n(e.net_amount),
        e.client_order_id,
        e.strategy,
        n(e.position_after),
        "",
        n(e.pnl),
        "",
        "",
        "",
        f"fill {e.fill_id}, settles {e.settle_date}",
    ]


def history_view(points: list[EquityPoint], initial: int | None, tz: tzinfo) -> Rows:
    """One row per KST day: the day's last point, with the legacy History statistics."""
    days: dict[date, EquityPoint] = {}
    for p in points:  # in time order: the last of a day wins
        days[p.ts.astimezone(tz).date()] = p
    rows: Rows = []
    base = initial if initial else (points[0].equity if points else 0)
    prev = base
    hwm = 0
    mdd = 0.0
    returns: list[float] = []
    n = cells.number_cell
    for day in sorted(days):
        equity = days[day].equity
        pnl = equity - prev
        ret = pnl / prev if prev else None
        if ret is not None:
            returns.append(ret)
        hwm = max(hwm, equity)
        drawdown = equity / hwm - 1 if hwm > 0 else 0.0
        mdd = min(mdd, drawdown)
        window = returns[-20:]
        vol = None
        if len(window) >= 2:
            mean = sum(window) / len(window)
            vol = math.sqrt(sum((r - mean) ** 2 for r in window) / (len(window) - 1))
        rows.append(
            [
                day.isoformat(),
                n(equity),
                n(pnl),
                cells.pct_text(ret),
                cells.pct_text(equity / base - 1 if base else None),
                cells.pct_text(vol),
                n(hwm),
                cells.pct_text(drawdown),
                cells.pct_text(mdd),
                "",
            ]
        )
        prev = equity
    return rows
