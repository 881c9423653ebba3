"""The trade ledger (T_Ledger): one row per execution, append-only."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from qts.model.enums import OrderSide


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One execution as booked. ``net_amount`` is the signed cash effect, fees included.

    ``pnl`` is the realized PnL of a sell net of that sell's commission and tax (0 on buys).
    """

    seq: int
    ts: datetime
    symbol: str
    market: str
    side: OrderSide
    qty: int
    price: int
    amount: int
    commission: int
    tax: int
    net_amount: int
    client_order_id: str
    fill_id: str
    strategy: str
    position_after: int
    pnl: int
    settle_date: str

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["ts"] = self.ts.isoformat()
        row["side"] = str(self.side)
        return row


class Ledger:
    """In-memory view of the ledger; the store keeps the durable copy."""

    def __init__(self, entries: list[LedgerEntry] | None = None) -> None:
        self.entries: list[LedgerEntry] = []
        self._net = 0
        self._fees = 0
        for entry in entries or []:
            self.append(entry)

    def append(self, entry: LedgerEntry) -> None:
        if self.entries and entry.seq != self.entries[-1].seq + 1:
            raise ValueError(
                f"ledger: entry seq {entry.seq} does not follow {self.entries[-1].seq}"
            )
        self.entries.append(entry)
        self._net += entry.net_amount
        self._fees += entry.commission + entry.tax

    @property
    def next_seq(self) -> int:
        return self.entries[-1].seq + 1 if self.entries else 1

    def net_cash_flow(self) -> int:
        """Sum of every entry's signed cash effect (kept as entries are appended)."""
        return self._net

    def total_fees(self) -> int:
        return self._fees

    def __len__(self) -> int:
        return len(self.entries)
