"""Decide: the last yes/no gate before an order exists.

Forced NONE when trading is disabled or the safety state forbids it; no order when risk refused,
the quantity is zero, an order for the symbol is still open, or the daily limit of entries
(buys) is reached; exits are never limited.

An exit that must happen (a strategy's ``Urgency.FORCED`` stop-loss or time in trade,
``Urgency.FLATTEN`` before the close) does not wait behind a resting limit sell that may never
fill: Decide asks Act to cancel it (``Decisions.cancels``, see ``qts.execution.exit_room``) and
sends what the room next to the still-working sells allows; the rest goes once the venue has
confirmed the cancel (the next cycle no longer sees the order pending). Such an exit is sent at
MARKET even under a LIMIT policy: it must not rest in turn.
With capital flow on, the operating state's limits apply to buys (``engines.capital.gates``).
Limit prices are put on the tick grid (buy rounds down, sell rounds up) and inside the daily limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qts.engines.capital.gates import entry_block
from qts.engines.contracts import (
    CancelDecision,
    Decisions,
    Evaluation,
    EvaluationResult,
    OrderDecision,
    RawData,
)
from qts.execution.exit_room import ExitPlan, plan_exit
from qts.market.krx.rules import KrxRules, rules_on
from qts.model.enums import OrderSide, OrderType, Signal, Urgency
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
    cancels: list[CancelDecision] = []
    entries = raw.account.entries_today
    capital = raw.capital
    positions = sum(1 for q in raw.account.qty.tolist() if q > 0)
    for r in ev.results:
        d = r.decision
        side = OrderSide.BUY if d.signal is Signal.BUY else OrderSide.SELL
        reason = ""
        qty = r.final_qty
        forced = side is OrderSide.SELL and d.urgency is not Urgency.NORMAL
        order_type = OrderType.MARKET if forced else policy.order_type
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
            plan = _replace_plan(raw, i, r) if forced else None
            if plan is None or (plan.send <= 0 and not plan.cancel):
                reason = "ORDER_PENDING"
            else:
                why = f"replaced by {d.strategy}'s exit: {d.reason}"
                cancels.extend(CancelDecision(d.symbol, c, why) for c in plan.cancel)
                if plan.send <= 0:
                    reason = f"ORDER_PENDING (replacing: {plan.note})"
                qty = plan.send
        elif (
            side is OrderSide.BUY
            and policy.max_trades_per_day is not None
            and entries >= policy.max_trades_per_day
        ):
            reason = "DAILY_TRADE_LIMIT"
        limit = None
        if not reason and order_type is OrderType.LIMIT:
            rules = rules_on(
                raw.ts.date(),
                policy.markets.get(d.symbol, Market.KOSPI),
                d.symbol in policy.etf_symbols,
            )
            limit = _limit_price(r.price, side, policy, rules, int(raw.base_price[i]))
        decision = OrderDecision(
            symbol=d.symbol,
            action=None if reason else side,
            qty=qty if not reason else r.final_qty,
            order_type=order_type,
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
    return Decisions(ev, tuple(orders), tuple(blocked), tuple(cancels))


def _replace_plan(raw: RawData, i: int, r: EvaluationResult) -> ExitPlan | None:
    """The plan of a forced exit next to the symbol's pending sells; None when a pending buy
    is among the pending orders (the exit waits for it)."""
    sells = raw.account.pending_sells.get(r.decision.symbol, ())
    if int(raw.account.pending_qty[i]) + sum(p.remaining for p in sells) != 0:
        return None
    market = int(raw.frame.close[i]) if raw.frame.active[i] else r.price
    return plan_exit(int(raw.account.qty[i]), sells, r.final_qty, r.decision.urgency, market)


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
