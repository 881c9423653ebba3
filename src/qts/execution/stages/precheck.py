"""Stage 1 — PreCheck (spec §2.2): is the order still valid right now? First failure wins.

Its inputs come through :class:`PreCheckInputs`, a small read interface, so a cache-backed
reader (Redis, issue 13) can replace the in-process one without touching the stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from qts.model.enums import OrderSide


class PreCheckInputs(Protocol):
    """What PreCheck reads: positions, capital, broker, market and risk state."""

    def has_live_execution(self, symbol: str, strategy: str, side: OrderSide) -> bool:
        """An execution of this symbol, strategy and side is still running (no duplicate)."""
        ...

    def position_qty(self, symbol: str) -> int: ...

    def available_cash(self) -> int:
        """Cash the scalp orders may still commit (the Scalp pool's available capital)."""
        ...

    def broker_connected(self) -> bool: ...

    def reconnect(self) -> bool:
        """One reconnect attempt; True when the broker is connected afterwards."""
        ...

    def market_open(self, symbol: str, now: datetime) -> bool: ...

    def risk_check(self, symbol: str, side: OrderSide, qty: int, price: int) -> str:
        """ "" when the final risk re-check passes, else the reason."""
        ...


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # POSITION, CAPITAL, BROKER, MARKET, RISK
    passed: bool
    available_qty: int | None = None


@dataclass(frozen=True, slots=True)
class PreCheckResult:
    passed: bool
    qty: int  # possibly shrunk to what capital allows
    checks: tuple[Check, ...] = field(default_factory=tuple)
    reason: str = ""


def precheck(
    inputs: PreCheckInputs,
    *,
    symbol: str,
    strategy: str,
    side: OrderSide,
    qty: int,
    price: int,
    now: datetime,
    cost_per_share: int | None = None,
) -> PreCheckResult:
    """The five checks in the spec's order. A buy larger than the cash allows is shrunk to the
    affordable quantity (``cost_per_share``: price plus its share of commission); a sell larger
    than the holding is shrunk to the holding."""
    checks: list[Check] = []

    def fail(name: str, reason: str, available: int | None = None) -> PreCheckResult:
        checks.append(Check(name, False, available))
        return PreCheckResult(False, qty, tuple(checks), reason)

    if inputs.has_live_execution(symbol, strategy, side):
        return fail("POSITION", "POSITION_INVALID: an execution of this order is still running")
    if side is OrderSide.SELL:
        held = inputs.position_qty(symbol)
        if held <= 0:
            return fail("POSITION", f"POSITION_INVALID: nothing of {symbol} held to sell")
        qty = min(qty, held)
    checks.append(Check("POSITION", True))
    if side is OrderSide.BUY:
        unit = max(cost_per_share or price, 1)
        available = max(inputs.available_cash(), 0) // unit
        if available <= 0:
            return fail("CAPITAL", "INSUFFICIENT_CAPITAL: no cash for one share", 0)
        if qty > available:
            qty = available
        checks.append(Check("CAPITAL", True, available))
    else:
        checks.append(Check("CAPITAL", True))
    if not inputs.broker_connected() and not inputs.reconnect():
        return fail("BROKER", "BROKER_DISCONNECTED: reconnect failed")
    checks.append(Check("BROKER", True))
    if not inputs.market_open(symbol, now):
        return fail("MARKET", f"MARKET_CLOSED: {symbol} is not trading at {now.isoformat()}")
    checks.append(Check("MARKET", True))
    risk = inputs.risk_check(symbol, side, qty, price)
    if risk:
        return fail("RISK", f"RISK_LIMIT_EXCEEDED: {risk}")
    checks.append(Check("RISK", True))
    return PreCheckResult(True, qty, tuple(checks))
