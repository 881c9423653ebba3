"""The venue-side account: what the simulated broker lets the client spend and sell.

Cash is the D+2 deposit a Korean broker shows (예수금): sale proceeds may fund purchases before
they settle, so the venue tracks one cash number and no settlement queue. Open orders *hold*
cash (buys) or shares (sells) so two orders cannot spend the same won or sell the same share.
"""

from __future__ import annotations

from collections.abc import Mapping


class SimAccount:
    """Cash and holdings at the venue, plus what open orders hold. No short selling."""

    __slots__ = ("cash", "held_cash", "held_qty", "holdings", "initial_cash")

    def __init__(self, initial_cash: int, holdings: Mapping[str, int] | None = None) -> None:
        if initial_cash < 0:
            raise ValueError(f"sim account: initial cash cannot be negative, got {initial_cash}")
        self.initial_cash = initial_cash
        self.cash = initial_cash
        self.holdings: dict[str, int] = {}
        for symbol, qty in (holdings or {}).items():
            if qty < 0:
                raise ValueError(f"sim account: holding of {symbol} cannot be negative, got {qty}")
            if qty:
                self.holdings[symbol] = qty
        self.held_cash = 0
        self.held_qty: dict[str, int] = {}

    @property
    def free_cash(self) -> int:
        """Cash not held by open buy orders: what a new buy may use."""
        return self.cash - self.held_cash

    def held(self, symbol: str) -> int:
        return self.holdings.get(symbol, 0)

    def sellable(self, symbol: str) -> int:
        """Shares not held by open sell orders."""
        return self.holdings.get(symbol, 0) - self.held_qty.get(symbol, 0)

    def change_hold(self, symbol: str, cash_delta: int, qty_delta: int) -> None:
        self.held_cash += cash_delta
        if qty_delta:
            left = self.held_qty.get(symbol, 0) + qty_delta
            if left:
                self.held_qty[symbol] = left
            else:
                self.held_qty.pop(symbol, None)

    def bought(self, symbol: str, qty: int, cost: int) -> None:
        """A buy fill: ``cost`` is amount + commission."""
        self.cash -= cost
        self.holdings[symbol] = self.holdings.get(symbol, 0) + qty

    def sold(self, symbol: str, qty: int, proceeds: int) -> None:
        """A sell fill: ``proceeds`` is amount − commission − tax."""
        left = self.holdings.get(symbol, 0) - qty
        if left < 0:
            raise ValueError(f"sim account: sells {qty} {symbol}, holds {left + qty}")
        if left:
            self.holdings[symbol] = left
        else:
            self.holdings.pop(symbol, None)
        self.cash += proceeds
