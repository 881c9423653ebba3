"""Shared pieces of the Sheets tests: fast retry settings, a trader's fills, header edits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qts.core.time import kst
from qts.data.sheets.client import RetryPolicy
from qts.data.sheets.fake import FakeSheetsServer
from qts.model import Account, Fill, Order, OrderSide, OrderType
from qts.model.ledger import LedgerEntry
from qts.model.position import Position

T0 = kst(2024, 1, 2, 9, 0)
FAST = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05)


def values(fake: FakeSheetsServer, key: str, range_: str) -> list[list[Any]]:
    return fake.get_values(key, range_)


def set_header(fake: FakeSheetsServer, key: str, sheet: str, column: str, text: str) -> None:
    """The operator types ``text`` over one header cell."""
    fake.set_values(key, f"'{sheet}'!{column}1", [[text]])


class Book:
    """Orders and fills of one account, built the way the OMS builds them."""

    def __init__(self, cash: int = 100_000_000) -> None:
        self.account = Account(cash)
        self.n = 0

    def buy_fill(
        self, symbol: str = "005930", qty: int = 10, price: int = 70_000
    ) -> tuple[Fill, LedgerEntry, Order, Position, int, dict[Any, int]]:
        self.n += 1
        ts = T0 + timedelta(minutes=self.n)
        order = Order(f"Q{self.n:04d}", symbol, OrderSide.BUY, OrderType.LIMIT, qty, ts, price)
        order.submit(f"V{self.n}", ts)
        fill = Fill(
            f"F{self.n:04d}",
            order.client_order_id,
            symbol,
            OrderSide.BUY,
            qty,
            price,
            ts,
            commission=qty * price * 15 // 100_000,
        )
        assert order.apply_fill(fill.fill_id, qty, price, ts)
        entry = self.account.apply_fill(fill, ts.date() + timedelta(days=2), strategy="swing_ma")
        position = self.account.positions[symbol]
        return fill, entry, order, position, self.account.cash, dict(self.account.pending)
