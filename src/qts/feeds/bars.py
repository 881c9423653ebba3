"""Columnar bar series: one symbol's OHLCV as numpy arrays.

Timestamps are ``int64`` POSIX seconds (UTC) of the bar's *start*. Integers rather than
``datetime64`` because numpy's datetimes carry no timezone, and a bare number cannot be misread
as KST wall-clock time; ``time_at`` turns one into an aware KST datetime. A daily bar is stamped
at 09:00 KST of its date (the regular open) whatever the day's actual session, so daily series
from files and from the generator line up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import numpy.typing as npt

from qts.core.errors import DataError
from qts.core.time import KST, at, require_aware
from qts.feeds.ticks import IntArray, dated_off_grid, eras
from qts.model.bar import Bar
from qts.model.instrument import Market

DAILY_BAR_TIME = time(9, 0)
PRICE_FIELDS = ("open", "high", "low", "close")


def to_epoch(ts: datetime) -> int:
    """POSIX seconds of an aware datetime."""
    return int(require_aware(ts).timestamp())


def from_epoch(seconds: int) -> datetime:
    """Aware KST datetime of POSIX seconds."""
    return datetime.fromtimestamp(int(seconds), tz=KST)


def daily_epoch(day: date) -> int:
    """Daily bar timestamp: 09:00 KST of ``day`` (zoneinfo: right in 1987-88 summer time)."""
    return to_epoch(at(day, DAILY_BAR_TIME))


def _int_column(name: str, values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        # a float column would be truncated silently by a cast; make the caller round on purpose
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.int64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """OHLCV bars of one symbol in time order; integer KRW prices, integer share volumes.

    Arrays are copied to read-only ``int64`` on construction, so a series can be shared freely.
    Construction checks shapes only; ``validate`` checks the market rules.
    """

    symbol: str
    ts: IntArray
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray
    etf: bool = False
    market: Market = Market.KOSPI  # with ``etf``, which dated tick table and limits apply
    name: str = ""  # display name (from a symbols file), never used for matching

    def __post_init__(self) -> None:
        n = None
        for name in ("ts", "open", "high", "low", "close", "volume"):
            col = _int_column(name, getattr(self, name))
            object.__setattr__(self, name, col)
            if n is None:
                n = len(col)
            elif len(col) != n:
                raise ValueError(f"{self.symbol}: column {name} has {len(col)} values, ts has {n}")

    @classmethod
    def adopt(
        cls,
        symbol: str,
        columns: Sequence[IntArray],
        etf: bool = False,
        market: Market = Market.KOSPI,
        name: str = "",
    ) -> BarSeries:
        """A series over int64 arrays the caller gives up (ts, open, high, low, close, volume):
        made read-only, not copied, so a loader's peak memory holds the columns once."""
        series = object.__new__(cls)
        names = ("ts", "open", "high", "low", "close", "volume")
        if len(columns) != len(names):
            raise ValueError(f"{symbol}: {len(columns)} columns, expected {len(names)}")
        for column, col in zip(names, columns, strict=True):
            if col.dtype != np.int64 or col.ndim != 1 or len(col) != len(columns[0]):
                raise ValueError(f"{symbol}: column {column} is not int64 of the length of ts")
            col.setflags(write=False)
            object.__setattr__(series, column, col)
        object.__setattr__(series, "symbol", symbol)
        object.__setattr__(series, "etf", etf)
        object.__setattr__(series, "market", market)
        object.__setattr__(series, "name", name)
        return series

    def named(self, name: str) -> BarSeries:
        """The same bars (shared, not copied) under a display name."""
        cols = [self.ts, self.open, self.high, self.low, self.close, self.volume]
        return BarSeries.adopt(self.symbol, cols, self.etf, self.market, name)

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, index: slice) -> BarSeries:
        """A contiguous sub-series (``series[10:20]``)."""
        if not isinstance(index, slice):
            raise TypeError("index a BarSeries with a slice; use bar(i) for one bar")
        return BarSeries(
            self.symbol,
            self.ts[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.etf,
            self.market,
            self.name,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BarSeries):
            return NotImplemented
        return (
            self.symbol == other.symbol
            and self.etf == other.etf
            and self.market == other.market
            and all(
                np.array_equal(getattr(self, f), getattr(other, f))
                for f in ("ts", "open", "high", "low", "close", "volume")
            )
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable

    def time_at(self, i: int) -> datetime:
        """Start of bar ``i`` as an aware KST datetime."""
        return from_epoch(int(self.ts[i]))

    def bar(self, i: int) -> Bar:
        return Bar(
            symbol=self.symbol,
            ts=self.time_at(i),
            open=int(self.open[i]),
            high=int(self.high[i]),
            low=int(self.low[i]),
            close=int(self.close[i]),
            volume=int(self.volume[i]),
        )

    def bars(self) -> Iterator[Bar]:
        """Row view for code that wants ``Bar`` objects; slow, for tests and small series."""
        for i in range(len(self)):
            yield self.bar(i)

    def between(self, start: datetime, end: datetime) -> BarSeries:
        """Bars starting in [start, end)."""
        i = int(np.searchsorted(self.ts, to_epoch(start), side="left"))
        j = int(np.searchsorted(self.ts, to_epoch(end), side="left"))
        return self[i:j]

    @classmethod
    def from_bars(
        cls,
        symbol: str,
        bars: Sequence[Bar],
        etf: bool = False,
        market: Market = Market.KOSPI,
    ) -> BarSeries:
        for b in bars:
            if b.symbol != symbol:
                raise ValueError(f"bar for {b.symbol} in a series of {symbol}")
        return cls(
            symbol,
            np.array([to_epoch(b.ts) for b in bars], dtype=np.int64),
            np.array([b.open for b in bars], dtype=np.int64),
            np.array([b.high for b in bars], dtype=np.int64),
            np.array([b.low for b in bars], dtype=np.int64),
            np.array([b.close for b in bars], dtype=np.int64),
            np.array([b.volume for b in bars], dtype=np.int64),
            etf,
            market,
        )

    @classmethod
    def concat(cls, parts: Sequence[BarSeries]) -> BarSeries:
        """Join series of the same symbol (e.g. consecutive days); order is the caller's."""
        if not parts:
            raise ValueError("concat needs at least one series")
        first = parts[0]
        for p in parts[1:]:
            if p.symbol != first.symbol or p.etf != first.etf or p.market != first.market:
                raise ValueError(
                    f"cannot join {p.symbol} ({p.market}, etf={p.etf}) to {first.symbol} "
                    f"({first.market}, etf={first.etf})"
                )
        return cls(
            first.symbol,
            np.concatenate([p.ts for p in parts]),
            np.concatenate([p.open for p in parts]),
            np.concatenate([p.high for p in parts]),
            np.concatenate([p.low for p in parts]),
            np.concatenate([p.close for p in parts]),
            np.concatenate([p.volume for p in parts]),
            first.etf,
            first.market,
            first.name,
        )

    def validate(self, source: str | None = None) -> None:
        """Raise ``DataError`` for the first bar that breaks a rule (see ``first_problem``)."""
        problem = first_problem(
            self.ts,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.etf,
            market=self.market,
        )
        if problem is not None:
            i, field, reason = problem
            raise DataError(f"{source or self.symbol} bar {i}", field, reason)


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def first_problem(
    ts: IntArray,
    open_: IntArray,
    high: IntArray,
    low: IntArray,
    close: IntArray,
    volume: IntArray,
    etf: bool = False,
    ts_labels: Sequence[str] | None = None,
    market: Market = Market.KOSPI,
) -> tuple[int, str, str] | None:
    """The earliest bar breaking a rule, as (index, field, reason), or None.

    Rules: prices positive and on the KRX tick grid in force on the bar's date (for ``market``,
    or the ETF grid), high >= max(open, close),
    low <= min(open, close), volume >= 0, timestamps strictly increasing. ``ts_labels`` lets a
    loader quote the file's own date text. Work is vectorised; only the reason is formatted.
    """
    found: list[tuple[int, int, str, str]] = []  # (index, rule order, field, reason)
    prices = {"open": open_, "high": high, "low": low, "close": close}

    def label(i: int) -> str:
        return ts_labels[i] if ts_labels is not None else from_epoch(int(ts[i])).isoformat()

    for order, (name, col) in enumerate(prices.items()):
        i = _first(col <= 0)
        if i is not None:
            found.append((i, order, name, f"{int(col[i]):,} is not a positive price"))
    if not found:  # the grid is only defined for positive prices
        parts = eras(ts, market, etf)  # the same rows and tables for every price column
        for order, (name, col) in enumerate(prices.items()):
            i = _first(dated_off_grid(col, ts, market, etf, parts))
            if i is not None:
                ((_, table),) = eras(ts[i : i + 1], market, etf)
                tick = table.tick(int(col[i]))
                reason = (
                    f"{int(col[i]):,} is not on the KRX tick grid (tick {tick} at this price "
                    f"in the {table.name} table)"
                )
                found.append((i, 4 + order, name, reason))
    top = np.maximum(open_, close)
    i = _first(high < top)
    if i is not None:
        found.append((i, 8, "high", f"{int(high[i]):,} is below max(open, close) {int(top[i]):,}"))
    bottom = np.minimum(open_, close)
    i = _first(low > bottom)
    if i is not None:
        found.append((i, 9, "low", f"{int(low[i]):,} is above min(open, close) {int(bottom[i]):,}"))
    i = _first(volume < 0)
    if i is not None:
        found.append((i, 10, "volume", f"{int(volume[i]):,} is negative"))
    if len(ts) > 1:
        j = _first(np.diff(ts) <= 0)
        if j is not None:
            reason = f"{label(j + 1)} is not after {label(j)} on the previous row"
            found.append((j + 1, 11, "date", reason))
    if not found:
        return None
    i, _, field, reason = min(found)
    return i, field, reason


@dataclass(frozen=True, slots=True, eq=False)
class LevelSeries:
    """A float level over time (a volatility index such as VKOSPI or VIX); ts as in BarSeries."""

    name: str
    ts: IntArray
    value: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        ts = _int_column("ts", self.ts)
        value = np.array(self.value, dtype=np.float64, copy=True)
        if value.shape != ts.shape:
            raise ValueError(f"{self.name}: {value.shape[0]} values for {ts.shape[0]} times")
        value.setflags(write=False)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "value", value)

    def __len__(self) -> int:
        return len(self.ts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LevelSeries):
            return NotImplemented
        return (
            self.name == other.name
            and np.array_equal(self.ts, other.ts)
            and np.array_equal(self.value, other.value)
        )

    __hash__ = None  # type: ignore[assignment]

    def time_at(self, i: int) -> datetime:
        return from_epoch(int(self.ts[i]))

    @classmethod
    def concat(cls, parts: Sequence[LevelSeries]) -> LevelSeries:
        if not parts:
            raise ValueError("concat needs at least one series")
        return cls(
            parts[0].name,
            np.concatenate([p.ts for p in parts]),
            np.concatenate([p.value for p in parts]),
        )
