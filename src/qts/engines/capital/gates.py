"""How the operating state and the pools bound ETEDA: sizing in Evaluate, limits in Decide.

Evaluate: a buy is sized inside its strategy's pool — a weight is a share of the pool's total,
a fixed quantity scales with the state's risk multiplier — and never spends more than the pool's
available capital (cash less what is reserved for open buys and for a waiting rebalance: pending
rebalancing pre-empts entries). Decide: DEFENSIVE blocks new buys (GR082), a buy below the
state's entry threshold is dropped, the state's maximum positions and daily trades hold (GR080),
a locked pool buys nothing. Exits are never limited.
"""

from __future__ import annotations

from decimal import Decimal

from qts.engines.capital.allocation import floor_won
from qts.engines.capital.view import CapitalView
from qts.engines.contracts import StrategyDecision
from qts.engines.risk import RiskLimits
from qts.model.enums import Signal

DEFENSIVE_BLOCK = "NEW_ENTRY_BLOCKED_IN_DEFENSIVE_STATE"


def size_in_pool(
    view: CapitalView,
    decision: StrategyDecision,
    qty: int,
    price: int,
    held_value: int,
    buffer: float = 0.0,
) -> tuple[int, str]:
    """The buy quantity the pool allows, and why it was cut ('' when it was not)."""
    if decision.signal is not Signal.BUY or price <= 0:
        return qty, ""
    m = view.profile.risk_multiplier
    track = decision.track
    if decision.recommended_qty > 0:
        qty = floor_won(Decimal(decision.recommended_qty) * m)
    elif decision.target_weight > 0:
        target = floor_won(Decimal(view.total(track)) * Decimal(str(decision.target_weight)) * m)
        qty = max(0, (target - held_value) // price)
    unit = Decimal(price) * (1 + Decimal(str(buffer)))
    cap = floor_won(Decimal(view.available(track)) / unit)
    if cap < qty:
        return max(cap, 0), f"POOL_CAPITAL ({track} available {view.available(track):,})"
    return qty, ""


def entry_block(
    view: CapitalView,
    decision: StrategyDecision,
    entries_today: int,
    open_positions: int,
    holds_symbol: bool,
) -> str:
    """Why the state or the pool refuses this buy ('' when it may go)."""
    if decision.signal is not Signal.BUY:
        return ""
    p = view.profile
    if not p.new_entries:
        return DEFENSIVE_BLOCK
    if decision.track.value == "SCALP" and not p.scalp_active:
        return f"STATE_{view.state}"
    if view.locked(decision.track):
        return f"POOL_LOCKED ({decision.track})"
    if decision.confidence < p.entry_threshold:
        return f"BELOW_STATE_THRESHOLD ({decision.confidence:.2f} < {p.entry_threshold})"
    if entries_today >= p.max_daily_trades:
        return f"DAILY_TRADE_LIMIT ({view.state}: {p.max_daily_trades})"
    if not holds_symbol and open_positions >= p.max_positions:
        return f"MAX_POSITIONS ({view.state}: {p.max_positions})"
    return ""


def scaled_limits(limits: RiskLimits, multiplier: Decimal) -> RiskLimits:
    """The risk engine's limits under the state's multiplier (max exposure, daily loss limit,
    maximum position size); a multiplier of 1 leaves them as configured."""
    if multiplier == 1:
        return limits
    m = float(multiplier)
    dl = limits.daily_loss_limit
    q = limits.max_position_qty
    return limits.model_copy(
        update={
            "max_exposure": min(1.0, limits.max_exposure * m),
            "daily_loss_limit": min(0.99, dl * m) if dl is not None else None,
            "max_position_qty": max(1, floor_won(Decimal(q) * multiplier)) if q else None,
        }
    )
