"""Market-data test helpers: random ticks and the independent computation of 1-minute bars."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pg_helpers import POOLS, TARGETS

from qts.core.time import KST
from qts.data.market_ports import Bar, MarketDataStore, Tick
from qts.data.sqlite_market import SqliteMarketStore


@dataclass(frozen=True)
class MarketKind:
    name: str
    open: Callable[[Path], MarketDataStore]


# Every MarketDataStore adapter: test_market_contract.py runs against each.
MARKET_KINDS = (
    MarketKind("sqlite", lambda path: SqliteMarketStore(path.with_suffix(".sqlite"))),
    *(
        MarketKind(
            "postgres" if t.mode == "plain" else f"postgres-{t.mode}", POOLS[t.mode].open_market
        )
        for t in TARGETS
    ),
)


def random_ticks(
    rng: random.Random,
    symbol: str,
    start: datetime,
    minutes: int,
    count: int,
    *,
    tie_share: float = 0.2,
) -> list[Tick]:
    """``count`` ticks of one symbol spread over ``minutes`` minutes from ``start`` (KST), in
    random order; about ``tie_share`` of them share an instant with another tick."""
    span_us = minutes * 60_000_000
    ticks: list[Tick] = []
    for _ in range(count):
        if ticks and rng.random() < tie_share:
            time = rng.choice(ticks).time  # same instant, another price
        else:
            time = start + timedelta(microseconds=rng.randrange(span_us))
        ticks.append(
            Tick(
                time=time,
                symbol=symbol,
                price=rng.randrange(50_000, 50_500) * 10,
                volume=rng.randrange(0, 5_000),
                bid=None if rng.random() < 0.3 else rng.randrange(1, 10**6),
                ask=None if rng.random() < 0.3 else rng.randrange(1, 10**6),
                source=rng.choice(["KIS", "KRX", ""]),
            )
        )
    rng.shuffle(ticks)
    return ticks


def tick_order(t: Tick) -> tuple[datetime, int, int, str]:
    """The port's tick order: time, then price, volume, source."""
    return (t.time.astimezone(UTC), t.price, t.volume, t.source)


def expected_bars(ticks: Iterable[Tick], start: datetime, end: datetime) -> list[Bar]:
    """1-minute bars computed in Python: first/max/min/last price and summed volume per minute,
    for minutes that start in [start, end); the result in KST, by symbol then time."""
    minutes: dict[tuple[str, datetime], list[Tick]] = {}
    for t in ticks:
        minute = t.time.astimezone(UTC).replace(second=0, microsecond=0)
        if start <= minute < end:
            minutes.setdefault((t.symbol, minute), []).append(t)
    bars = []
    for (symbol, minute), group in sorted(minutes.items()):
        group.sort(key=tick_order)
        bars.append(
            Bar(
                time=minute.astimezone(KST),
                symbol=symbol,
                open=group[0].price,
                high=max(t.price for t in group),
                low=min(t.price for t in group),
                close=group[-1].price,
                volume=sum(t.volume for t in group),
            )
        )
    return bars
