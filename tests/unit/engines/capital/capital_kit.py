"""Small builders for the capital-flow tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from qts.core.time import KST
from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.flow import BookedEntry, CapitalFlow, CycleInputs
from qts.model.enums import OrderSide, Track
from qts.model.ledger import LedgerEntry

T0 = datetime(2026, 1, 5, 15, 30, tzinfo=KST)  # a Monday
ZERO = {Track.SCALP: 0, Track.SWING: 0, Track.PORTFOLIO: 0}


def day(n: int, hour: int = 15, minute: int = 30) -> datetime:
    return (T0 + timedelta(days=n)).replace(hour=hour, minute=minute)


def inputs(ts: datetime, cash: int, invested: dict[Track, int] | None = None, **kw: object):
    return CycleInputs(ts=ts, cash=cash, invested=dict(invested or ZERO), **kw)  # type: ignore[arg-type]


def flow(cash: int = 100_000_000, config: CapitalConfig | None = None) -> CapitalFlow:
    f = CapitalFlow.new(config or CapitalConfig(), T0)
    f.step(inputs(T0, cash))
    return f


def entry(
    seq: int,
    side: OrderSide,
    qty: int,
    price: int,
    ts: datetime,
    *,
    after: int,
    pnl: int = 0,
    fee: int = 0,
    symbol: str = "005930",
    track: Track = Track.SWING,
) -> BookedEntry:
    amount = qty * price
    net = -amount - fee if side is OrderSide.BUY else amount - fee
    return BookedEntry(
        LedgerEntry(
            seq,
            ts,
            symbol,
            "KOSPI",
            side,
            qty,
            price,
            amount,
            fee,
            0,
            net,
            f"o{seq}",
            f"f{seq}",
            "test",
            after,
            pnl,
            ts.date().isoformat(),
        ),
        track,
    )
