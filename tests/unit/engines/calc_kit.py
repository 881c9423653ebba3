"""Test helpers for the engines: frames from a few prices, and CalcData built by hand.

``Feed`` runs real frames through a real ``IndicatorBank`` (the strategies' own specs) and wraps
each update in the contracts Extract and Transform would build, from a hand-written ``Book``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from qts.core.time import kst
from qts.engines.contracts import AccountSnapshot, CalcData, HoldingView, RawData
from qts.engines.indicators import IndicatorBank, IndicatorSpec, IndicatorValues
from qts.model.enums import Track
from qts.model.frame import BarFrame, Universe

T0 = kst(2026, 3, 4, 9, 0)

# one bar of one symbol: a close, or (high, low, close); None = no bar in this frame
Price = int | tuple[int, int, int] | None


def frame(universe: Universe, prices: Sequence[Price], start: datetime = T0) -> BarFrame:
    n = len(universe)
    assert len(prices) == n
    high = np.zeros(n, dtype=np.int64)
    low = np.zeros(n, dtype=np.int64)
    close = np.zeros(n, dtype=np.int64)
    active = np.zeros(n, dtype=np.bool_)
    for i, p in enumerate(prices):
        if p is None:
            continue
        h, lo, c = (p, p, p) if isinstance(p, int) else p
        high[i], low[i], close[i], active[i] = h, lo, c, True
    volume = np.where(active, 1_000, 0).astype(np.int64)
    return BarFrame(
        universe,
        start,
        start + timedelta(minutes=1),
        close.copy(),
        high,
        low,
        close,
        volume,
        active,
    )


@dataclass(frozen=True, slots=True)
class Holding:
    qty: int
    avg_price: int
    strategy: str
    opened_at: datetime | None = None
    high_since_open: int = 0
    track: Track = Track.SWING


@dataclass(slots=True)
class Book:
    """What the account holds, as a strategy would see it."""

    cash: int = 100_000_000
    buying_power: int | None = None
    holdings: dict[str, Holding] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    day_start_equity: int | None = None
    entries_today: int = 0


def calc(
    frame_: BarFrame,
    book: Book,
    last_close: np.ndarray | None = None,
    indicators: Mapping[str, IndicatorValues] | None = None,
    ts: datetime | None = None,
    session_open: bool = True,
    minutes_to_close: float = 300.0,
    base_price: np.ndarray | None = None,
    safety_state: str = "NORMAL",
    trading_enabled: bool = True,
) -> CalcData:
    """The contracts of one cycle, derived the way Extract and Transform derive them."""
    universe = frame_.universe
    n = len(universe)
    marks = frame_.close if last_close is None else last_close
    qty = np.zeros(n, dtype=np.int64)
    cost = np.zeros(n, dtype=np.int64)
    pending = np.zeros(n, dtype=np.int64)
    high = np.zeros(n, dtype=np.int64)
    views: dict[str, HoldingView] = {}
    for symbol, h in book.holdings.items():
        i = universe.index(symbol)
        qty[i] = h.qty
        cost[i] = h.qty * h.avg_price
        high[i] = h.high_since_open or h.avg_price
        views[symbol] = HoldingView(
            symbol, h.qty, h.qty * h.avg_price, h.opened_at, h.strategy, h.track
        )
    for symbol, q in book.pending.items():
        pending[universe.index(symbol)] = q
    exposure = qty * marks
    equity = book.cash + int(exposure.sum())
    start_equity = equity if book.day_start_equity is None else book.day_start_equity
    account = AccountSnapshot(
        cash=book.cash,
        buying_power=book.cash if book.buying_power is None else book.buying_power,
        equity=equity,
        day_start_equity=start_equity,
        qty=qty,
        cost_basis=cost,
        pending_qty=pending,
        high_since_open=high,
        holdings=views,
        entries_today=book.entries_today,
    )
    raw = RawData(
        cycle_id=(ts or frame_.end).isoformat(),
        ts=ts or frame_.end,
        universe=universe,
        frame=frame_,
        account=account,
        base_price=np.zeros(n, dtype=np.int64) if base_price is None else base_price,
        safety_state=safety_state,
        trading_enabled=trading_enabled,
        session_open=session_open,
        minutes_to_close=minutes_to_close,
    )
    return CalcData(
        raw=raw,
        indicators=dict(indicators or {}),
        exposure_value=exposure,
        unrealized_pnl=np.where(qty > 0, exposure - cost, 0),
        total_equity=equity,
        total_exposure=float(exposure.sum()) / equity,
        daily_pnl=equity - start_equity,
    )


class Feed:
    """Frames for one universe through a real IndicatorBank, one minute apart."""

    def __init__(self, symbols: Sequence[str], specs: Sequence[IndicatorSpec]) -> None:
        self.universe = Universe(tuple(symbols))
        self.bank = IndicatorBank(list(specs), len(self.universe))
        self.last_close = np.zeros(len(self.universe), dtype=np.int64)
        self.t = T0

    def push(
        self,
        prices: Sequence[Price],
        book: Book | None = None,
        session_open: bool = True,
        minutes_to_close: float = 300.0,
    ) -> CalcData:
        f = frame(self.universe, prices, self.t)
        self.t = f.end
        np.copyto(self.last_close, f.close, where=f.active)
        values = self.bank.update(f)
        return calc(
            f,
            book or Book(),
            last_close=self.last_close.copy(),
            indicators=values,
            session_open=session_open,
            minutes_to_close=minutes_to_close,
        )

    def run(self, rows: Sequence[Sequence[Price]], book: Book | None = None) -> CalcData:
        """Push every row; the CalcData of the last one."""
        assert rows
        out = None
        for row in rows:
            out = self.push(row, book)
        assert out is not None
        return out
