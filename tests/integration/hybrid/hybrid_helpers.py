"""Hybrid-store test helpers: a fault-injecting wrapper around a real store, a manual clock, and
a burst of trading the way the order manager writes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from storage_helpers import STATE_KEYS, T0, Trader

from qts.core.errors import StorageError
from qts.data import DecisionRecord, EquityPoint, TradingStore
from qts.data.hybrid import HybridAlert
from qts.data.hybrid.codec import WRITE_METHODS
from qts.data.ports import SafetyEventRecord
from qts.model import OrderSide

__all__ = [
    "STATE_KEYS",
    "T0",
    "Alerts",
    "Clock",
    "FlakyStore",
    "Link",
    "Trader",
    "burst",
]


class Link:
    """The network between QTS and one database, shared by every connection to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.read_only = False
        self.lose_acks = 0
        self.fail_after_writes: int | None = None
        self.commits = 0


class FlakyStore:
    """A real store behind a :class:`Link`: ``down`` makes every call fail as a dead connection
    does; ``read_only`` fails every write; ``lose_acks`` makes the next commits succeed on the
    real store and then fail, as when the connection dies after COMMIT reached the server;
    ``fail_after_writes`` takes the link down by itself once that many more writes committed
    (a kill in the middle of a burst)."""

    def __init__(self, inner: TradingStore, link: Link | None = None) -> None:
        self.inner = inner
        self.link = link or Link("flaky")
        self._depth = 0

    def _check(self, write: bool = False) -> None:
        if self.link.down:
            raise StorageError(f"{self.link.name}: connection lost")
        if write and self.link.read_only:
            raise StorageError(f"{self.link.name}: read-only")

    def _committed(self) -> None:
        link = self.link
        link.commits += 1
        if link.fail_after_writes is not None:
            link.fail_after_writes -= 1
            if link.fail_after_writes <= 0:
                link.fail_after_writes = None
                link.down = True
        if link.lose_acks:
            link.lose_acks -= 1
            raise StorageError(f"{link.name}: connection lost after COMMIT")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr
        write = name in WRITE_METHODS

        def call(*args: Any, **kwargs: Any) -> Any:
            self._check(write)
            result = attr(*args, **kwargs)
            if write and self._depth == 0:
                self._committed()
            return result

        return call

    @contextmanager
    def _block(self) -> Iterator[None]:
        self._check(write=True)
        self._depth += 1
        try:
            with self.inner.transaction():
                yield
                self._check()  # went down inside the block: nothing commits
        finally:
            self._depth -= 1
        if self._depth == 0:
            self._committed()

    def transaction(self) -> Any:
        return self._block()

    def close(self) -> None:
        self.inner.close()


class Clock:
    """A monotonic clock the test moves by hand, so backoff is deterministic."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Alerts:
    """Collects the hybrid store's alerts."""

    seen: list[HybridAlert] = field(default_factory=list)

    def __call__(self, alert: HybridAlert) -> None:
        self.seen.append(alert)

    def kinds(self) -> list[tuple[str, str]]:
        return [(a.kind, a.target) for a in self.seen]


def burst(trader: Trader, orders: int, *, after_each: Callable[[int], None] | None = None) -> None:
    """``orders`` round trips the way the order manager writes them: new, submit, two partial
    fills, a decision row and an equity point; every third order also sells half back."""
    store = trader.store
    for i in range(orders):
        symbol = f"{i % 7:06d}"
        price = 10_000 + 10 * i
        buy = trader.new_order(symbol, OrderSide.BUY, 10, limit_price=price)
        trader.submit(buy)
        trader.fill(buy, 4, price)
        trader.fill(buy, 6, price - 10)
        store.record_decisions(
            [DecisionRecord(trader.now(), f"c{i}", symbol, "BUY", qty=10, approved=True)]
        )
        store.record_equity(EquityPoint(trader.now(), trader.account.cash, 0, 0, 0, 0, i))
        if i % 3 == 2:
            sell = trader.new_order(symbol, OrderSide.SELL, 5)
            trader.submit(sell)
            trader.fill(sell, 5, price + 100)
            store.record_safety_event(
                SafetyEventRecord(trader.now(), "report", f"GR{i:03d}", "x", "NORMAL", "NORMAL")
            )
        if after_each is not None:
            after_each(i)
