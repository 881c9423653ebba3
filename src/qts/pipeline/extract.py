"""Extract: one immutable snapshot of market, account, config and safety state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from qts.engines.capital.view import CapitalView
from qts.engines.contracts import AccountSnapshot, RawData, frozen
from qts.execution.oms import OrderManager
from qts.model.frame import BarFrame


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the loop knows of the market at this cycle besides the bars."""

    base_price: np.ndarray
    last_close: np.ndarray
    session_open: bool
    minutes_to_close: float


def extract(
    cycle_id: str,
    ts: datetime,
    frame: BarFrame,
    market: MarketState,
    oms: OrderManager,
    day_start_equity: int,
    safety_state: str,
    trading_enabled: bool,
    capital: CapitalView | None = None,
) -> RawData:
    with oms.lock:  # a consistent snapshot while the fill handler may be booking
        return _extract(
            cycle_id,
            ts,
            frame,
            market,
            oms,
            day_start_equity,
            safety_state,
            trading_enabled,
            capital,
        )


def _extract(
    cycle_id: str,
    ts: datetime,
    frame: BarFrame,
    market: MarketState,
    oms: OrderManager,
    day_start_equity: int,
    safety_state: str,
    trading_enabled: bool,
    capital: CapitalView | None,
) -> RawData:
    qty = oms.qty.copy()
    market_value = int(qty @ market.last_close)
    account = oms.account
    entries_today = oms.entries_by_day.get(ts.date(), 0)
    snapshot = AccountSnapshot(
        cash=account.cash,
        buying_power=account.buying_power,
        equity=account.cash + market_value,
        day_start_equity=day_start_equity,
        qty=frozen(qty),
        cost_basis=frozen(oms.cost.copy()),
        pending_qty=frozen(oms.pending_qty(ts)),
        pending_sells=oms.pending_sells(ts),
        high_since_open=frozen(oms.high.copy()),
        holdings=oms.holdings(),
        entries_today=entries_today,
    )
    return RawData(
        cycle_id=cycle_id,
        ts=ts,
        universe=frame.universe,
        frame=frame,
        account=snapshot,
        base_price=market.base_price,
        safety_state=safety_state,
        trading_enabled=trading_enabled,
        session_open=market.session_open,
        minutes_to_close=market.minutes_to_close,
        capital=capital,
    )
