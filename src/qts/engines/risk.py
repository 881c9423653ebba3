"""Pre-trade risk gate: decides *may we*, and refuses with a reason.

Sells that reduce a holding are always allowed (up to the holding). A buy must fit the daily loss
limit, the account exposure cap, the per-symbol weight cap, an optional per-symbol quantity cap and
the buying power; the quantity shrinks to fit, and a buy that fits nothing is refused. The gate is
stateful within one cycle so that several buys cannot each spend the same room.

With a :class:`PreTradeView` (the hot cache, store behind it) the gate reads the account's risk
state once per cycle and each symbol's current price and held quantity per check from it, as the
scalp PreCheck does (``prefetch`` reads a cycle's checks ahead in one round trip per family);
without one it reads the cycle's snapshot. No I/O happens here: the view is a port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from qts.engines.contracts import CalcData, RiskDecision, StrategyDecision
from qts.model.enums import Signal


class RiskLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_exposure: float = Field(1.0, gt=0, le=1, description="sum of holdings / equity")
    max_symbol_weight: float = Field(1.0, gt=0, le=1, description="one holding / equity")
    max_position_qty: int | None = Field(None, gt=0)
    daily_loss_limit: float | None = Field(
        None, gt=0, lt=1, description="fraction of the day's starting equity"
    )
    buying_power_buffer: float = Field(
        0.0, ge=0, lt=1, description="headroom kept for price moves and fees on a buy"
    )


@dataclass(frozen=True, slots=True)
class PreTradeInputs:
    """One symbol's hot inputs: the current price (None: no current price) and the quantity held."""

    price: int | None
    held_qty: int


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """The account's risk state as of the latest cycle, in won."""

    exposure_used: int
    daily_pnl: int
    day_start_equity: int


class PreTradeView(Protocol):
    def pretrade(self, symbol: str) -> PreTradeInputs: ...

    def pretrade_many(self, symbols: Sequence[str]) -> Mapping[str, PreTradeInputs]:
        """:meth:`pretrade` of several symbols in one round trip per family."""
        ...

    def account_risk(self) -> AccountRisk | None: ...


@dataclass(slots=True)
class RiskGate:
    limits: RiskLimits
    view: PreTradeView | None = None
    _exposure: int = 0
    _daily_pnl: int = 0
    _day_start: int = 0
    _buying_power: int = 0
    _added: dict[int, int] | None = None
    _added_qty: dict[int, int] | None = None
    _hot: dict[str, PreTradeInputs] | None = None  # read ahead for this cycle's checks

    def prefetch(self, calc: CalcData, wanted: Sequence[tuple[str, int, int]]) -> None:
        """Read the hot inputs of the checks about to be made, as (symbol, qty, price), in one
        round trip per family instead of one per check; each is used by the next check of its
        symbol. Only checks that would read the view are read for, so the view sees the same
        reads as without this."""
        if self.view is None:
            return
        universe = calc.raw.universe
        symbols = [s for s, qty, price in wanted if s in universe and qty > 0 and price > 0]
        self._hot = dict(self.view.pretrade_many(symbols)) if symbols else None

    def start_cycle(self, calc: CalcData) -> None:
        risk = self.view.account_risk() if self.view is not None else None
        if risk is not None:
            self._exposure = risk.exposure_used
            self._daily_pnl, self._day_start = risk.daily_pnl, risk.day_start_equity
        else:
            self._exposure = int(calc.exposure_value.sum())
            self._daily_pnl, self._day_start = calc.daily_pnl, calc.raw.account.day_start_equity
        self._buying_power = calc.raw.account.buying_power
        self._added = {}
        self._added_qty = {}
        self._hot = None

    def check(
        self, calc: CalcData, decision: StrategyDecision, qty: int, price: int
    ) -> RiskDecision:
        raw = calc.raw
        if decision.symbol not in raw.universe:
            return RiskDecision(False, 0, "UNKNOWN_SYMBOL")
        i = raw.universe.index(decision.symbol)
        if qty <= 0:
            return RiskDecision(False, 0, "QTY_NOT_POSITIVE")
        if price <= 0:
            return RiskDecision(False, 0, "NO_PRICE")
        held_now = int(raw.account.qty[i])
        if self.view is not None:
            ahead = self._hot.pop(decision.symbol, None) if self._hot else None
            hot = ahead if ahead is not None else self.view.pretrade(decision.symbol)
            if hot.price is None:
                return RiskDecision(False, 0, f"NO_PRICE (no current price:{decision.symbol})")
            held_now = hot.held_qty
        if decision.signal is Signal.SELL:
            assert self._added_qty is not None
            held = held_now + self._added_qty.get(i, 0)
            if held <= 0:
                return RiskDecision(False, 0, "NOTHING_TO_SELL")
            sold = min(qty, held)
            self._added_qty[i] = self._added_qty.get(i, 0) - sold
            # the sale frees exposure room for this cycle's buys; not buying power, which the
            # venue releases only when the sale fills
            self._exposure -= sold * price
            return RiskDecision(True, sold, "OK")
        lim = self.limits
        equity = calc.total_equity
        if equity <= 0:
            return RiskDecision(False, 0, "EQUITY_NOT_POSITIVE")
        if lim.daily_loss_limit is not None and self._day_start > 0:
            loss = -self._daily_pnl / self._day_start
            if loss >= lim.daily_loss_limit:
                return RiskDecision(False, 0, f"DAILY_LOSS_LIMIT ({loss:.2%} lost today)")
        assert self._added is not None and self._added_qty is not None
        caps: list[tuple[int, str]] = [(qty, "OK")]
        room = int(equity * lim.max_exposure) - self._exposure
        caps.append((room // price, "MAX_EXPOSURE"))
        held_value = int(calc.exposure_value[i]) + self._added.get(i, 0)
        caps.append(
            ((int(equity * lim.max_symbol_weight) - held_value) // price, "MAX_SYMBOL_WEIGHT")
        )
        if lim.max_position_qty is not None:
            held_qty = held_now + self._added_qty.get(i, 0)
            caps.append((lim.max_position_qty - held_qty, "MAX_POSITION_QTY"))
        unit = price * (1 + lim.buying_power_buffer)
        caps.append((int(self._buying_power // unit), "INSUFFICIENT_BUYING_POWER"))
        allowed, reason = min(caps, key=lambda c: c[0])
        if allowed <= 0:
            return RiskDecision(False, 0, reason)
        cost = allowed * price
        self._exposure += cost
        self._buying_power -= int(allowed * unit)
        self._added[i] = self._added.get(i, 0) + cost
        self._added_qty[i] = self._added_qty.get(i, 0) + allowed
        return RiskDecision(True, allowed, reason if allowed < qty else "OK")
