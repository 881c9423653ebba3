"""KRX tick sizes by price band, as dated tables per market.

History (each row of ``TICK_HISTORY``; ETF/ETN trade on a flat 5 KRW tick throughout):

* until 2003-07-20, KOSDAQ: <10,000: 10 · <50,000: 50 · <100,000: 100 · <500,000: 500 ·
  ≥500,000: 1,000 (dongA 2003-05-29 "7월 21일부터 코스닥 호가단위 4단계로 실시", table 현행;
  Seoul Economic Daily 2003-05-29 "코스닥 호가단위 4단계로 축소").
* from 2003-07-21, KOSDAQ: <5,000: 5 · <10,000: 10 · <50,000: 50 · ≥50,000: 100 (same articles,
  table 개정).
* until 2010-10-03, KOSPI: <5,000: 5 · <10,000: 10 · <50,000: 50 · <100,000: 100 · <500,000: 500
  · ≥500,000: 1,000 (Hankyung 2000 "호가단위" explainer: 5 KRW below 5,000, 1,000 from 500,000).
* from 2010-10-04, both markets add a 1 KRW tick below 1,000 (Hankyung 2010-07-30 "10월4일부터
  1000원 미만 저가주 호가 단위 5원→1원"; edaily 2010-10-01, KOSPI and KOSDAQ); KRX's English
  pages of that era list KOSPI <1,000: 1 … ≥500,000: 1,000 and KOSDAQ <1,000: 1 … ≥50,000: 100.
* from 2023-01-25 one table for KOSPI, KOSDAQ and KONEX: <2,000: 1 · <5,000: 5 · <20,000: 10 ·
  <50,000: 50 · <200,000: 100 · <500,000: 500 · ≥500,000: 1,000 (krx-market-rules.md; Energy
  Economy 2023-01-17; etoday 2023-01-17: "코스피와 코스닥·코넥스 간 서로 다른 호가 가격 단위를
  통일" — so KONEX used KOSDAQ's table before).

The first row's date (1996-01-01, the horizon shared with the tax table) is where the known
history starts, not a statutory date: older data gets that row. Rounding helpers without a table
use today's rules (``CURRENT``); code replaying history asks ``tick_table(day, market, etf)``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import pairwise

from qts.market.krx.dated import check_rows, in_force
from qts.model.instrument import Market


@dataclass(frozen=True, slots=True)
class TickTable:
    """One tick grid: (lower bound of a band, its tick), ascending from 0.

    Every band's lower bound is a multiple of its own tick and of the tick below it, so rounding
    up from a finer band lands on the coarser band's grid (checked on construction).
    """

    name: str
    bands: tuple[tuple[int, int], ...]
    _lowers: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.bands or self.bands[0][0] != 0:
            raise ValueError(f"tick table {self.name}: the first band must start at 0")
        for (lo_a, tick_a), (lo_b, tick_b) in pairwise(self.bands):
            if lo_b <= lo_a or lo_b % tick_a or lo_b % tick_b:
                raise ValueError(f"tick table {self.name}: band at {lo_b} breaks the grid")
        if any(t <= 0 for _, t in self.bands):
            raise ValueError(f"tick table {self.name}: ticks must be positive")
        object.__setattr__(self, "_lowers", tuple(lo for lo, _ in self.bands))

    @property
    def lowest(self) -> int:
        """The lowest price on the grid (the first band's tick)."""
        return self.bands[0][1]

    def tick(self, price: int) -> int:
        """The tick of the band ``price`` lies in."""
        if price <= 0:
            raise ValueError(f"price must be positive, got {price}")
        return self.bands[bisect_right(self._lowers, price) - 1][1]

    def is_on_tick(self, price: int) -> bool:
        return price > 0 and price % self.tick(price) == 0

    def round_down(self, price: int) -> int:
        """Largest grid price <= ``price`` (a buy limit rounds down); 0 below the lowest."""
        return price - price % self.tick(price)

    def round_up(self, price: int) -> int:
        """Smallest grid price >= ``price`` (a sell limit rounds up)."""
        tick = self.tick(price)
        rem = price % tick
        if rem == 0:
            return price
        up = price - rem + tick
        # crossing into a coarser band keeps the price on that band's grid
        return up if self.is_on_tick(up) else self.round_up(up)

    def round_nearest(self, price: float) -> int:
        """Nearest grid price (ties go up), never below the lowest; for scaled float data."""
        p = max(1, int(price + 0.5)) if price >= 1 else 1
        down = self.round_down(p)
        up = self.round_up(p)
        if down < self.lowest:
            return up
        return up if (up - price) <= (price - down) else down

    def ticks_between(self, low: int, high: int) -> int:
        """Number of ticks from ``low`` up to ``high`` walking the grid."""
        n, p = 0, low
        while p < high:
            p += self.tick(p)
            n += 1
        return n

    def step(self, price: int, ticks: int) -> int:
        """Move ``ticks`` grid steps up (positive) or down (negative) from an on-grid price;
        moving down stops at the lowest price on the grid."""
        p = price
        for _ in range(abs(ticks)):
            if ticks > 0:
                p += self.tick(p)
            elif p - 1 >= self.lowest:
                p = self.round_down(p - 1)
        return p


KOSPI_2000 = TickTable(
    "KOSPI until 2010-10-03",
    ((0, 5), (5_000, 10), (10_000, 50), (50_000, 100), (100_000, 500), (500_000, 1_000)),
)
KOSDAQ_1996 = TickTable(
    "KOSDAQ until 2003-07-20",
    ((0, 10), (10_000, 50), (50_000, 100), (100_000, 500), (500_000, 1_000)),
)
KOSDAQ_2003 = TickTable(
    "KOSDAQ 2003-07-21 to 2010-10-03", ((0, 5), (5_000, 10), (10_000, 50), (50_000, 100))
)
KOSPI_2010 = TickTable(
    "KOSPI 2010-10-04 to 2023-01-24",
    (
        (0, 1),
        (1_000, 5),
        (5_000, 10),
        (10_000, 50),
        (50_000, 100),
        (100_000, 500),
        (500_000, 1_000),
    ),
)
KOSDAQ_2010 = TickTable(
    "KOSDAQ 2010-10-04 to 2023-01-24",
    ((0, 1), (1_000, 5), (5_000, 10), (10_000, 50), (50_000, 100)),
)
STOCK_2023 = TickTable(
    "KOSPI/KOSDAQ/KONEX since 2023-01-25",
    (
        (0, 1),
        (2_000, 5),
        (5_000, 10),
        (20_000, 50),
        (50_000, 100),
        (200_000, 500),
        (500_000, 1_000),
    ),
)
ETF_TABLE = TickTable("ETF/ETN", ((0, 5),))


@dataclass(frozen=True, slots=True)
class TickRow:
    """Stock tick tables per market for days on or after ``effective_from``."""

    effective_from: date
    tables: Mapping[Market, TickTable]


def _all(table: TickTable) -> dict[Market, TickTable]:
    return dict.fromkeys(Market, table)


TICK_HISTORY: tuple[TickRow, ...] = check_rows(
    (
        TickRow(
            date(1996, 1, 1),
            {Market.KOSPI: KOSPI_2000, Market.KOSDAQ: KOSDAQ_1996, Market.KONEX: KOSDAQ_1996},
        ),
        TickRow(
            date(2003, 7, 21),
            {Market.KOSPI: KOSPI_2000, Market.KOSDAQ: KOSDAQ_2003, Market.KONEX: KOSDAQ_2003},
        ),
        TickRow(
            date(2010, 10, 4),
            {Market.KOSPI: KOSPI_2010, Market.KOSDAQ: KOSDAQ_2010, Market.KONEX: KOSDAQ_2010},
        ),
        TickRow(date(2023, 1, 25), _all(STOCK_2023)),
    ),
    "tick table",
)

CURRENT = TICK_HISTORY[-1].tables[Market.KOSPI]
# Today's bands, for code that only ever trades today (kept for the vectorised helpers).
STOCK_BANDS = CURRENT.bands
ETF_TICK = ETF_TABLE.lowest


@lru_cache(maxsize=256)
def tick_table(day: date | None, market: Market = Market.KOSPI, etf: bool = False) -> TickTable:
    """The grid in force on ``day`` for a stock of ``market`` (or an ETF); None means today."""
    if etf:
        return ETF_TABLE
    row = TICK_HISTORY[-1] if day is None else in_force(TICK_HISTORY, day)
    return row.tables[market]


def change_dates() -> tuple[date, ...]:
    """Days on which some market's tick table changed (every row after the horizon)."""
    return tuple(r.effective_from for r in TICK_HISTORY[1:])


def _grid(etf: bool) -> TickTable:
    return ETF_TABLE if etf else CURRENT


def tick_size(price: int, etf: bool = False) -> int:
    """The tick of the band ``price`` lies in, by today's table."""
    return _grid(etf).tick(price)


def is_on_tick(price: int, etf: bool = False) -> bool:
    return _grid(etf).is_on_tick(price)


def round_down(price: int, etf: bool = False) -> int:
    """Largest price on today's grid that is <= ``price`` (a buy limit rounds down)."""
    return _grid(etf).round_down(price)


def round_up(price: int, etf: bool = False) -> int:
    """Smallest price on today's grid that is >= ``price`` (a sell limit rounds up)."""
    return _grid(etf).round_up(price)


def round_nearest(price: float, etf: bool = False) -> int:
    """Nearest price on today's grid (ties go up)."""
    return _grid(etf).round_nearest(price)


def ticks_between(low: int, high: int, etf: bool = False) -> int:
    return _grid(etf).ticks_between(low, high)


def step(price: int, ticks: int, etf: bool = False) -> int:
    """Move ``ticks`` steps on today's grid (down stops at 1 KRW, or 5 for an ETF)."""
    return _grid(etf).step(price, ticks)
