"""Start-up adopts the account: the broker's cash and holdings become the run's books.

A fresh live run (no books yet) reads the account from the broker. Its cash is the run's cash;
every holding becomes a position booked at the broker's average purchase price (rounded to the
won) as a zero-fee fill of a synthetic filled order ``ADOPT-<day>-<symbol>``, tagged
``adopted`` (the position's strategy), so the accounting identities hold and the micro risk
loop protects it like any position. The run's initial cash is therefore the broker's cash plus
the adopted holdings at cost. ``live.adopt_holdings: refuse`` refuses to start while the
account holds anything, naming the holdings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from qts.core.errors import ConfigError
from qts.execution.oms import OrderManager


@dataclass(frozen=True, slots=True)
class Held:
    qty: int
    avg_price: int  # the broker's average purchase price, KRW (rounded)


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    cash: int
    holdings: Mapping[str, Held] = field(default_factory=dict)

    @property
    def cost(self) -> int:
        return sum(h.qty * h.avg_price for h in self.holdings.values())


def check_policy(snapshot: AccountSnapshot, policy: str) -> None:
    """``refuse``: no start while the account holds anything."""
    if policy == "refuse" and snapshot.holdings:
        held = ", ".join(f"{s} x{h.qty}" for s, h in sorted(snapshot.holdings.items()))
        raise ConfigError(
            "broker account",
            "holdings",
            f"the account holds {held} and live.adopt_holdings is refuse; "
            "sell them or set live.adopt_holdings: adopt",
        )


def adopter(snapshot: AccountSnapshot, ts: datetime) -> Callable[[OrderManager], None]:
    """What build_engine calls on a fresh run: book every holding as adopted."""

    def adopt(oms: OrderManager) -> None:
        for symbol, held in sorted(snapshot.holdings.items()):
            if held.qty > 0 and held.avg_price > 0:
                oms.adopt(symbol, held.qty, held.avg_price, ts)

    return adopt


__all__ = ["AccountSnapshot", "Held", "adopter", "check_policy"]
