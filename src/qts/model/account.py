"""The cash account: fills change positions and cash, and book ledger rows.

Cash is the D+2 deposit a Korean broker shows (예수금 after settlement of every trade already made):
KRX trades settle T+2, and sale proceeds may fund purchases before they settle. ``settled_cash`` is
what has actually settled; ``pending`` holds the amounts still to settle, keyed by settlement date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from qts.model.enums import OrderSide, Track
from qts.model.fill import Fill
from qts.model.ledger import Ledger, LedgerEntry
from qts.model.position import Position


@dataclass(slots=True)
class Account:
    initial_cash: int
    cash: int = -1
    positions: dict[str, Position] = field(default_factory=dict)
    pending: dict[date, int] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    reserved: int = 0

    def __post_init__(self) -> None:
        if self.initial_cash < 0:
            raise ValueError(f"account: initial cash cannot be negative, got {self.initial_cash}")
        if self.cash == -1:
            self.cash = self.initial_cash

    @property
    def settled_cash(self) -> int:
        return self.cash - sum(self.pending.values())

    @property
    def buying_power(self) -> int:
        return self.cash - self.reserved

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def held_qty(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.qty if pos else 0

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty > 0]

    @property
    def market_value(self) -> int:
        return sum(p.market_value for p in self.positions.values())

    @property
    def cost_of_positions(self) -> int:
        return sum(p.cost_basis for p in self.positions.values())

    @property
    def equity(self) -> int:
        return self.cash + self.market_value

    def apply_fill(
        self,
        fill: Fill,
        settle_date: date,
        market: str = "KOSPI",
        track: Track = Track.SWING,
        strategy: str = "",
    ) -> LedgerEntry:
        """Book one fill. Raises before changing anything if the fill cannot be booked."""
        held = self.held_qty(fill.symbol)
        if fill.side is OrderSide.SELL and fill.qty > held:
            raise ValueError(
                f"fill {fill.fill_id}: sells {fill.qty} {fill.symbol}, account holds {held}"
            )
        pos = self.position(fill.symbol)
        pnl = 0
        if fill.side is OrderSide.BUY:
            pos.buy(fill.qty, fill.price, fill.ts, track, strategy)
            net = -fill.amount - fill.fees
        else:
            pnl = pos.sell(fill.qty, fill.price) - fill.fees
            net = fill.amount - fill.fees
        self.cash += net
        self.pending[settle_date] = self.pending.get(settle_date, 0) + net
        entry = LedgerEntry(
            seq=self.ledger.next_seq,
            ts=fill.ts,
            symbol=fill.symbol,
            market=market,
            side=fill.side,
            qty=fill.qty,
            price=fill.price,
            amount=fill.amount,
            commission=fill.commission,
            tax=fill.tax,
            net_amount=net,
            client_order_id=fill.client_order_id,
            fill_id=fill.fill_id,
            strategy=strategy or pos.strategy,
            position_after=pos.qty,
            pnl=pnl,
            settle_date=settle_date.isoformat(),
        )
        self.ledger.append(entry)
        return entry

    def settle(self, today: date) -> int:
        """Settle every amount due on or before ``today``; returns the won settled."""
        due = [d for d in self.pending if d <= today]
        return sum(self.pending.pop(d) for d in due)

    def reconcile(self) -> list[str]:
        """Accounting identities that must hold to the won; returns the broken ones."""
        problems: list[str] = []
        if self.cash != self.initial_cash + self.ledger.net_cash_flow():
            problems.append(
                f"cash {self.cash} != initial {self.initial_cash} + ledger net "
                f"{self.ledger.net_cash_flow()}"
            )
        realized = sum(p.realized_pnl for p in self.positions.values())
        lhs = self.cash + self.cost_of_positions
        rhs = self.initial_cash + realized - self.ledger.total_fees()
        if lhs != rhs:
            problems.append(f"cash + positions at cost {lhs} != initial + realized - fees {rhs}")
        booked: dict[str, int] = {}
        for e in self.ledger.entries:
            booked[e.symbol] = booked.get(e.symbol, 0) + (
                e.qty if e.side is OrderSide.BUY else -e.qty
            )
        for symbol in sorted(booked.keys() | self.positions.keys()):
            held = self.held_qty(symbol)
            if booked.get(symbol, 0) != held:
                problems.append(
                    f"{symbol}: position {held} != ledger quantity {booked.get(symbol, 0)}"
                )
        return problems
