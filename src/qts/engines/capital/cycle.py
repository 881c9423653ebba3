"""What one step of the capital flow is handed and what it returns.

Apart from :class:`~qts.engines.capital.flow.CapitalFlow` so the pieces of the step (booking,
the daily step) can name its inputs without importing the flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qts.engines.capital.pool import Transfer
from qts.engines.capital.view import CapitalView
from qts.engines.state.machine import Transition
from qts.model.enums import Track
from qts.model.ledger import LedgerEntry


@dataclass(frozen=True, slots=True)
class BookedEntry:
    """A ledger entry and the track of the order it filled."""

    entry: LedgerEntry
    track: Track


@dataclass(frozen=True, slots=True)
class CycleInputs:
    ts: datetime
    cash: int
    invested: dict[Track, int]
    unrealized: dict[Track, int] = field(default_factory=dict)
    held: dict[Track, int] = field(default_factory=dict)
    order_holds: dict[Track, int] = field(default_factory=dict)
    entries: Sequence[BookedEntry] = ()
    safety: str = "NORMAL"
    vol_index: float | None = None
    day_start_equity: int = 0
    circuit_breaker: bool = False
    has_vol_index: bool = True  # False: the run has no index at all (see StateInputs)

    @property
    def equity(self) -> int:
        return self.cash + sum(self.invested.values())


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    view: CapitalView
    transitions: tuple[Transition, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    row: dict[str, Any] = field(default_factory=dict)
