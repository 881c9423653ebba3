"""Seeded synthetic KRX-like market: 1-minute bars, daily bars and a VKOSPI-like index.

No openly licensed KRX price history exists, so KRX behaviour (tick grid, ±30 % limits, sessions,
the closing auction) is exercised on generated data. The model, per trading day:

* A market factor whose volatility is the VKOSPI-like index (annualised %, log mean-reverting
  around ~18, with upward jumps that coincide with market drops).
* Each symbol: ``beta`` × market + its own noise + rare jumps, as a geometric random walk with a
  weak pull back to its reference price (so a symbol stays in its tick band over long runs).
  Volatility and volume follow a U-shaped intraday curve (busy after the open and before the
  close); a quarter of the daily variance falls overnight, as the opening gap.
* Prices are rounded to the tick grid and clipped to the day's ±30 % limits of the previous close.

Bars of a day: one per minute of the continuous session (09:00 … 15:19 on a regular day) and one
bar at the closing-auction start (15:20) with open = high = low = close = the closing price.

Determinism: each (seed, stream, day) has its own generator (``SeedSequence`` of the seed, a
BLAKE2 hash of the stream name and the day's ordinal), and a day's bars are a pure function of
that and the explicit start state (previous closes, index level). So a day never depends on which
days or which other symbols were generated before or alongside it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import pairwise
from typing import Protocol

import numpy as np

from qts.core.time import KST, at
from qts.feeds.bars import BarSeries, LevelSeries, daily_epoch, from_epoch, to_epoch
from qts.feeds.ticks import FloatArray, IntArray, round_nearest_array
from qts.market.krx.price_limit import PriceLimits, daily_limits
from qts.market.krx.tick_size import is_on_tick
from qts.model.bar import Bar
from qts.model.instrument import Instrument, Market, SecurityType

TRADING_DAYS_PER_YEAR = 252
OVERNIGHT_VARIANCE_SHARE = 0.25  # share of a day's variance that falls between close and open

# VKOSPI-like index, in trading-day units
VOL_INDEX_MEAN = 18.0
VOL_INDEX_HALF_LIFE_DAYS = 15.0
VOL_INDEX_DAILY_VOL = 0.04  # stdev of the daily change of log(level)
VOL_INDEX_JUMPS_PER_DAY = 0.02
VOL_INDEX_JUMP_LOG = (0.25, 0.6)  # uniform range of a jump in log(level)
VOL_INDEX_MARKET_CORR = -0.7  # index shocks vs market shocks
MARKET_DROP_PER_INDEX_JUMP = 0.05  # market log return per unit of index log jump (negative)
VOL_INDEX_BOUNDS = (8.0, 100.0)
# Makes the long-run average level come out near VOL_INDEX_MEAN despite the upward jumps and the
# convexity of exp (checked by a test over 20 simulated years and several seeds).
_VOL_INDEX_LOG_TARGET = math.log(VOL_INDEX_MEAN) - 0.22

PRICE_PULL_PER_DAY = 0.002  # mean reversion of log price towards the reference price


class HasSession(Protocol):
    """What the generator needs of a day's session (``calendar.SessionTimes`` fits)."""

    @property
    def open(self) -> datetime: ...

    @property
    def closing_auction_start(self) -> datetime: ...


class SessionSource(Protocol):
    """Gives a trading day's session (``KrxCalendar`` fits); raises for a closed day."""

    def session(self, d: date) -> HasSession: ...


@dataclass(frozen=True, slots=True)
class FixedSession:
    open: datetime
    closing_auction_start: datetime


class RegularSessions:
    """Every date gets the regular 09:00 open and 15:20 closing auction: no holiday knowledge.

    For tests and for backtests over dates that a caller already chose.
    """

    def session(self, d: date) -> FixedSession:
        return FixedSession(at(d, time(9, 0)), at(d, time(15, 20)))


@dataclass(frozen=True, slots=True)
class SyntheticSymbol:
    """A made-up instrument and the parameters of its price process."""

    symbol: str
    name: str
    base_price: int  # reference price: the first previous close, and the level prices drift to
    idio_vol: float  # daily stdev of the symbol's own log return
    beta: float = 1.0
    adv: int = 1_000_000  # average daily volume, shares
    jumps_per_day: float = 0.05
    jump_vol: float = 0.03  # stdev of a jump's log return
    market: Market = Market.KOSPI
    etf: bool = False

    def __post_init__(self) -> None:
        if not is_on_tick(self.base_price, self.etf):
            raise ValueError(f"{self.symbol}: base price {self.base_price} is off the tick grid")
        if self.idio_vol < 0 or self.jump_vol < 0 or self.jumps_per_day < 0 or self.adv <= 0:
            raise ValueError(f"{self.symbol}: volatilities, jump rate and adv must be >= 0 / > 0")

    @property
    def instrument(self) -> Instrument:
        kind = SecurityType.ETF if self.etf else SecurityType.STOCK
        return Instrument(self.symbol, self.market, kind, self.name)


# Made-up names and codes; one symbol per stock tick band, one KOSDAQ name, one ETF (5 KRW tick).
DEFAULT_UNIVERSE: tuple[SyntheticSymbol, ...] = (
    SyntheticSymbol(
        "018470", "Saebit Textile", 1_500, idio_vol=0.030, beta=0.8, adv=3_000_000,
        jumps_per_day=0.08, jump_vol=0.05,
    ),
    SyntheticSymbol(
        "263750", "Mirae Bioscience", 3_500, idio_vol=0.035, beta=1.2, adv=1_500_000,
        jumps_per_day=0.10, jump_vol=0.06, market=Market.KOSDAQ,
    ),
    SyntheticSymbol("047310", "Hanbit Chemical", 12_000, idio_vol=0.020, beta=1.0, adv=800_000),
    SyntheticSymbol("071840", "Daeyang Logistics", 35_000, idio_vol=0.018, beta=0.9, adv=400_000),
    SyntheticSymbol(
        "005870", "Korea Precision Motor", 72_000, idio_vol=0.015, beta=1.1, adv=600_000
    ),
    SyntheticSymbol(
        "035290", "Seorin Semiconductor", 320_000, idio_vol=0.020, beta=1.3, adv=150_000
    ),
    SyntheticSymbol(
        "051930", "Gyeongin Pharma", 650_000, idio_vol=0.017, beta=0.7, adv=40_000,
        jumps_per_day=0.04, jump_vol=0.04,
    ),
    SyntheticSymbol(
        "139260", "QTS KOSPI200 ETF", 35_000, idio_vol=0.002, beta=1.0, adv=2_000_000,
        jumps_per_day=0.0, etf=True,
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MarketState:
    """What carries from one day to the next: each symbol's close and the index level."""

    closes: Mapping[str, int]
    vol_index: float = VOL_INDEX_MEAN


@dataclass(frozen=True, slots=True)
class MinuteBars:
    """Everything that happened in one bar slot, for a minute-by-minute runner."""

    ts: datetime  # bar start, KST
    closing_auction: bool
    bars: Mapping[str, Bar]
    vol_index: float  # level at the end of the slot


@dataclass(frozen=True, slots=True)
class SyntheticDay:
    day: date
    bars: Mapping[str, BarSeries]  # same timestamps for every symbol; last bar = closing auction
    vol_index: LevelSeries  # one level per bar slot (at the slot's end)
    limits: Mapping[str, PriceLimits]

    @property
    def closes(self) -> dict[str, int]:
        return {s: int(b.close[-1]) for s, b in self.bars.items()}

    @property
    def end_state(self) -> MarketState:
        return MarketState(self.closes, float(self.vol_index.value[-1]))

    def minutes(self) -> Iterator[MinuteBars]:
        """Bar slots in time order; the last one is the closing auction."""
        series = list(self.bars.values())
        ts = self.vol_index.ts
        last = len(ts) - 1
        for i in range(len(ts)):
            yield MinuteBars(
                from_epoch(int(ts[i])),
                i == last,
                {b.symbol: b.bar(i) for b in series},
                float(self.vol_index.value[i]),
            )

    def daily_bar(self, symbol: str) -> tuple[int, int, int, int, int]:
        """(open, high, low, close, volume) of the whole day."""
        b = self.bars[symbol]
        return (
            int(b.open[0]),
            int(b.high.max()),
            int(b.low.min()),
            int(b.close[-1]),
            int(b.volume.sum()),
        )


def stream_rng(seed: int, stream: str, day: date) -> np.random.Generator:
    """The generator of one (seed, stream, day); stable across processes (no salted hash())."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    digest = hashlib.blake2b(stream.encode(), digest_size=8).digest()
    entropy = [seed, int.from_bytes(digest, "big"), day.toordinal()]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def u_curve(n: int) -> FloatArray:
    """Relative activity of ``n`` minutes, mean 1: heavy after the open and before the close."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    w = 1.0 + 2.5 * np.exp(-t / 0.05) + 1.5 * np.exp(-(1.0 - t) / 0.06)
    return w / w.mean()


@dataclass(frozen=True, slots=True)
class _MarketDay:
    slot_ts: IntArray  # n minute starts + the closing auction start
    level: FloatArray  # index level at the end of each slot (n + 1)
    minute_returns: FloatArray  # market log return of each continuous minute (n)
    minute_vol: FloatArray  # market per-minute stdev (n), for the bar ranges
    gap: float  # overnight market log return
    activity: FloatArray  # u_curve(n)


def _minutes(session: HasSession, day: date) -> tuple[int, int]:
    open_s = to_epoch(session.open)
    auction_s = to_epoch(session.closing_auction_start)
    if session.open.astimezone(KST).date() != day:
        raise ValueError(f"session opening {session.open.isoformat()} is not on {day}")
    n, rem = divmod(auction_s - open_s, 60)
    if n < 1 or rem or open_s % 60:
        raise ValueError(f"{day}: the continuous session must be whole minutes, got {session}")
    return open_s, n


def _market_day(seed: int, day: date, session: HasSession, level0: float) -> _MarketDay:
    """The market factor and the index for one day; symbols add their own noise on top."""
    open_s, n = _minutes(session, day)
    rng = stream_rng(seed, "market", day)
    kappa = math.log(2.0) / VOL_INDEX_HALF_LIFE_DAYS
    on, intra = OVERNIGHT_VARIANCE_SHARE, 1.0 - OVERNIGHT_VARIANCE_SHARE
    rho = VOL_INDEX_MARKET_CORR
    lo, hi = VOL_INDEX_BOUNDS

    zg = rng.standard_normal(2)
    zm = rng.standard_normal(n)
    zv = rng.standard_normal(n)
    n_jumps = int(rng.poisson(VOL_INDEX_JUMPS_PER_DAY))
    jump_at = rng.integers(0, n, size=n_jumps)
    jump_log = rng.uniform(*VOL_INDEX_JUMP_LOG, size=n_jumps)

    # overnight: a share of the mean reversion and of the noise, tied to the market's gap
    x0 = math.log(min(max(level0, lo), hi))
    x_open = (
        x0
        + kappa * on * (_VOL_INDEX_LOG_TARGET - x0)
        + VOL_INDEX_DAILY_VOL * math.sqrt(on) * (rho * zg[0] + math.sqrt(1 - rho**2) * zg[1])
    )
    market_day_vol = math.exp(x0) / 100.0 / math.sqrt(TRADING_DAYS_PER_YEAR)
    gap = market_day_vol * math.sqrt(on) * float(zg[0])

    # intraday: x_{k+1} = a x_k + b + e_k, solved in closed form (a ** n stays near 1)
    a = 1.0 - kappa * intra / n
    b = kappa * intra / n * _VOL_INDEX_LOG_TARGET
    jumps = np.zeros(n)
    np.add.at(jumps, jump_at, jump_log)
    e = VOL_INDEX_DAILY_VOL * math.sqrt(intra / n) * (rho * zm + math.sqrt(1 - rho**2) * zv)
    e = e + jumps
    k = np.arange(1, n + 1, dtype=np.float64)
    powers = a**k
    x = powers * (x_open + np.cumsum((b + e) / powers))  # x[k-1] = level log after minute k
    level_end = np.clip(np.exp(x), lo, hi)
    level_start = np.concatenate(([min(max(math.exp(x_open), lo), hi)], level_end[:-1]))

    activity = u_curve(n)
    minute_vol = (
        level_start / 100.0 / math.sqrt(TRADING_DAYS_PER_YEAR) * np.sqrt(intra * activity / n)
    )
    minute_returns = minute_vol * zm - MARKET_DROP_PER_INDEX_JUMP * jumps
    slot_ts = np.concatenate(
        (open_s + 60 * np.arange(n, dtype=np.int64), [to_epoch(session.closing_auction_start)])
    ).astype(np.int64)
    level = np.concatenate((level_end, level_end[-1:]))
    return _MarketDay(slot_ts, level, minute_returns, minute_vol, gap, activity)


def _symbol_day(
    seed: int, day: date, sym: SyntheticSymbol, prev_close: int, m: _MarketDay
) -> tuple[BarSeries, PriceLimits]:
    rng = stream_rng(seed, f"symbol:{sym.symbol}", day)
    n = len(m.minute_returns)
    intra = 1.0 - OVERNIGHT_VARIANCE_SHARE
    limits = daily_limits(prev_close, sym.etf)

    z = rng.standard_normal(n)
    z_gap = float(rng.standard_normal())
    n_jumps = int(rng.poisson(sym.jumps_per_day))
    jump_at = rng.integers(0, n, size=n_jumps)
    jump_size = rng.normal(0.0, sym.jump_vol, size=n_jumps)
    range_draws = np.abs(rng.standard_normal((2, n)))
    z_close = float(rng.standard_normal())
    day_volume_noise = float(rng.normal(-0.045, 0.3))
    minute_volume_noise = rng.normal(-0.125, 0.5, size=n)
    auction_volume_noise = float(rng.normal(-0.02, 0.2))

    log_prev = math.log(prev_close)
    pull = -PRICE_PULL_PER_DAY * (log_prev - math.log(sym.base_price))
    idio_minute = sym.idio_vol * np.sqrt(intra * m.activity / n)
    steps = sym.beta * m.minute_returns + idio_minute * z + pull / n
    np.add.at(steps, jump_at, jump_size)
    log_open = (
        log_prev + sym.beta * m.gap + sym.idio_vol * math.sqrt(OVERNIGHT_VARIANCE_SHARE) * z_gap
    )
    log_close = log_open + np.cumsum(steps)
    log_first = np.concatenate(([log_open], log_close[:-1]))
    spread = np.sqrt((sym.beta * m.minute_vol) ** 2 + idio_minute**2)
    log_high = np.maximum(log_first, log_close) + 0.5 * spread * range_draws[0]
    log_low = np.minimum(log_first, log_close) - 0.5 * spread * range_draws[1]
    log_auction = log_close[-1] + 2.0 * float(idio_minute[-1]) * z_close

    floats = np.exp(np.concatenate((log_first, log_high, log_low, log_close, [log_auction])))
    # clip first: limits are on the grid, so rounding cannot leave them; both steps are monotone,
    # so high >= max(open, close) and low <= min(open, close) survive
    prices = round_nearest_array(np.clip(floats, limits.lower, limits.upper), sym.etf)
    o, h, lo_, c = (prices[i * n : (i + 1) * n] for i in range(4))
    auction = prices[-1]

    day_return = abs(log_auction - log_prev)
    day_volume = sym.adv * math.exp(day_volume_noise) * (1.0 + 10.0 * day_return)
    continuous = day_volume * 0.9 * m.activity / n * np.exp(minute_volume_noise)
    closing = day_volume * 0.1 * math.exp(auction_volume_noise)
    volume = np.maximum(np.rint(np.append(continuous, closing)), 1).astype(np.int64)

    series = BarSeries(
        sym.symbol,
        m.slot_ts,
        np.append(o, auction),
        np.append(h, auction),
        np.append(lo_, auction),
        np.append(c, auction),
        volume,
        sym.etf,
    )
    return series, limits


@dataclass
class SyntheticMarket:
    """A reproducible multi-symbol market. See the module docstring for the model.

    ``sessions`` gives each day's open and closing-auction start; the default is a ``KrxCalendar``
    (so holidays raise and special days are shorter). Pass ``RegularSessions()`` to generate any
    date with the regular 09:00-15:20 continuous session.
    """

    seed: int
    symbols: Sequence[SyntheticSymbol] | None = None
    sessions: SessionSource | None = None
    universe: tuple[SyntheticSymbol, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        universe = tuple(self.symbols) if self.symbols is not None else DEFAULT_UNIVERSE
        codes = [s.symbol for s in universe]
        if len(set(codes)) != len(codes) or not codes:
            raise ValueError(f"symbols must be unique and not empty, got {codes}")
        self.universe = universe

    def _sessions(self) -> SessionSource:
        if self.sessions is None:
            from qts.market.krx.calendar import KrxCalendar  # the thin default

            self.sessions = KrxCalendar()
        return self.sessions

    def trading_days(self, start: date, end: date) -> list[date]:
        """KRX trading days in [start, end] (needs the default calendar or one with this method)."""
        source = self._sessions()
        days = getattr(source, "trading_days", None)
        if days is None:
            raise TypeError(f"{type(source).__name__} cannot list trading days")
        return list(days(start, end))

    def instruments(self) -> list[Instrument]:
        return [s.instrument for s in self.universe]

    def start_state(self) -> MarketState:
        """Reference prices as the previous closes, the index at its long-run mean."""
        return MarketState({s.symbol: s.base_price for s in self.universe}, VOL_INDEX_MEAN)

    def day(
        self, day: date, state: MarketState | None = None, session: HasSession | None = None
    ) -> SyntheticDay:
        """One trading day from ``state`` (default: ``start_state()``); a pure function of
        (seed, day, state, session). Symbols missing from ``state.closes`` start at their
        reference price."""
        state = state if state is not None else self.start_state()
        session = session if session is not None else self._sessions().session(day)
        market = _market_day(self.seed, day, session, state.vol_index)
        bars: dict[str, BarSeries] = {}
        limits: dict[str, PriceLimits] = {}
        for sym in self.universe:
            prev = int(state.closes.get(sym.symbol, sym.base_price))
            bars[sym.symbol], limits[sym.symbol] = _symbol_day(self.seed, day, sym, prev, market)
        index = LevelSeries("VKOSPI", market.slot_ts, market.level)
        return SyntheticDay(day, bars, index, limits)

    def day_bars(
        self,
        day: date,
        prev_close: Mapping[str, int] | None = None,
        vol_index: float = VOL_INDEX_MEAN,
    ) -> dict[str, BarSeries]:
        """Shortcut for ``day(...).bars``."""
        closes = prev_close if prev_close is not None else self.start_state().closes
        return dict(self.day(day, MarketState(closes, vol_index)).bars)

    def days(
        self, days: Sequence[date], state: MarketState | None = None
    ) -> Iterator[SyntheticDay]:
        """Consecutive days, each starting from the previous day's end state."""
        _check_increasing(days)
        current = state if state is not None else self.start_state()
        for d in days:
            out = self.day(d, current)
            current = out.end_state
            yield out

    def daily_bars(
        self,
        days: Sequence[date],
        start_prices: Mapping[str, int] | None = None,
        start_vol_index: float = VOL_INDEX_MEAN,
    ) -> dict[str, BarSeries]:
        """Daily bars (stamped 09:00 KST) aggregated from the intraday bars of ``days``.

        The same seed gives the same closes in daily and in intraday runs.
        """
        closes = start_prices if start_prices is not None else self.start_state().closes
        rows: dict[str, list[tuple[int, int, int, int, int]]] = {
            s.symbol: [] for s in self.universe
        }
        for out in self.days(days, MarketState(closes, start_vol_index)):
            for symbol, row in rows.items():
                row.append(out.daily_bar(symbol))
        ts = np.array([daily_epoch(d) for d in days], dtype=np.int64)
        result: dict[str, BarSeries] = {}
        for sym in self.universe:
            cols = np.array(rows[sym.symbol], dtype=np.int64).reshape(len(days), 5)
            o, h, lo, c, v = cols.T
            result[sym.symbol] = BarSeries(sym.symbol, ts, o, h, lo, c, v, sym.etf)
        return result

    def vol_index(self, days: Sequence[date], start_level: float = VOL_INDEX_MEAN) -> LevelSeries:
        """The VKOSPI-like index per bar slot over ``days`` (cheap: no symbols are generated)."""
        _check_increasing(days)
        parts: list[LevelSeries] = []
        level = start_level
        sessions = self._sessions()
        for d in days:
            m = _market_day(self.seed, d, sessions.session(d), level)
            parts.append(LevelSeries("VKOSPI", m.slot_ts, m.level))
            level = float(m.level[-1])
        if not parts:
            return LevelSeries("VKOSPI", np.zeros(0, dtype=np.int64), np.zeros(0))
        return LevelSeries.concat(parts)


def _check_increasing(days: Sequence[date]) -> None:
    for a, b in pairwise(days):
        if b <= a:
            raise ValueError(f"days must be increasing: {b} follows {a}")
