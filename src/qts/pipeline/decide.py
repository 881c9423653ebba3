"""Decide: the last yes/no gate before an order exists.

Forced NONE when trading is disabled or the safety state forbids it; no order when risk refused,
the quantity is zero, an order for the symbol is still open, or the daily limit of entries
(buys) is reached; exits are never limited.
With capital flow on, the operating state's limits apply to buys (``engines.capital.gates``).
Limit prices are put on the tick grid (buy rounds down, sell rounds up) and inside the daily limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qts.engines.capital.gates import entry_block
from qts.engines.contracts import Decisions, Evaluation, OrderDecision
from qts.market.krx.rules import KrxRules, rules_on
from qts.model.enums import OrderSide, OrderType, Signal
from qts.model.instrument import Market

TRADING_STATES = frozenset({"NORMAL", "WARNING"})


@dataclass(frozen=True, slots=True)
class DecidePolicy:
    order_type: OrderType = OrderType.MARKET
    limit_offset_ticks: int = 0
    max_trades_per_day: int | None = None
    etf_symbols: frozenset[str] = frozenset()
    # market of each symbol not on KOSPI: with etf_symbols, which dated tick table and limits apply
    markets: Mapping[str, Market] = field(default_factory=dict)


def decide(ev: Evaluation, policy: DecidePolicy, safety_state: str | None = None) -> Decisions:
    """``safety_state`` is the state now (a finding earlier in the cycle may have changed it);
    by default the one the snapshot was taken in."""
    raw = ev.calc.raw
    state = raw.safety_state if safety_state is None else safety_state
    orders: list[OrderDecision] = []
    blocked: list[OrderDecision] = []
    entries = raw.account.entries_today
    capital = raw.capital
    positions = sum(1 for q in raw.account.qty.tolist() if q > 0)
    for r in ev.results:
        d = r.decision
        side = OrderSide.BUY if d.signal is Signal.BUY else OrderSide.SELL
        reason = ""
        i = raw.universe.index(d.symbol) if d.symbol in raw.universe else -1
        if not raw.trading_enabled:
            reason = "TRADING_DISABLED"
        elif state not in TRADING_STATES:
            reason = f"SAFETY_{state}"
        elif capital is not None and (
            block := entry_block(capital, d, entries, positions, i >= 0 and raw.account.qty[i] > 0)
        ):
            reason = block
        elif not r.risk.approved:
            reason = f"RISK: {r.risk.reason}"
        elif r.final_qty <= 0:
            reason = "QTY_ZERO"
        elif i >= 0 and raw.account.pending_qty[i] != 0:
            reason = "ORDER_PENDING"
        elif (
            side is OrderSide.BUY
            and policy.max_trades_per_day is not None
            and entries >= policy.max_trades_per_day
        ):
            reason = "DAILY_TRADE_LIMIT"
        limit = None
        if not reason and policy.order_type is OrderType.LIMIT:
            rules = rules_on(
                raw.ts.date(),
                policy.markets.get(d.symbol, Market.KOSPI),
                d.symbol in policy.etf_symbols,
            )
            limit = _limit_price(r.price, side, policy, rules, int(raw.base_price[i]))
        decision = OrderDecision(
            symbol=d.symbol,
            action=None if reason else side,
            qty=r.final_qty,
            order_type=policy.order_type,
            limit_price=limit,
            reason=reason or f"{d.reason}; risk {r.risk.reason}; {r.portfolio_reason}",
            strategy=d.strategy,
            track=d.track,
            price=r.price,
        )
        if reason:
            blocked.append(decision)
        else:
            orders.append(decision)
            if side is OrderSide.BUY:
                entries += 1
                positions += not (i >= 0 and raw.account.qty[i] > 0)
    return Decisions(ev, tuple(orders), tuple(blocked))


def _limit_price(
    price: int, side: OrderSide, policy: DecidePolicy, rules: KrxRules, base: int
) -> int:
    """On the grid of the bar's date (buy down, sell up), offset, then inside the day's limits."""
    grid = rules.grid
    ticks = policy.limit_offset_ticks if side is OrderSide.BUY else -policy.limit_offset_ticks
    p = grid.step(grid.round_down(price) if side is OrderSide.BUY else grid.round_up(price), ticks)
    if base > 0:
        lim = rules.limits(base)
        p = min(max(p, lim.lower), lim.upper)
    return p
