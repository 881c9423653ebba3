"""KRX trading days and daily session times (KST).

Closures come from the ``holidays`` package's XKRX financial calendar (public holidays plus the
exchange's own closures: May 1 and the year-end day), with weekends closed. Extra closures and
openings are configuration data layered on top. See docs/adr/0002-krx-calendar-from-holidays.md.

Special days (sources in krx-market-rules.md and the KRX notices reported by the press):

* First trading day of the year: the opening ceremony delays the *open* by one hour (pre-open
  auction 09:30, open 10:00); the close stays 15:30 and the after-hours sessions are unchanged.
* CSAT day (수능): the regular session and the after-hours closing-price session move +1 h
  (open 10:00, closing auction 16:20, close 16:30, after-hours close 16:40–17:00); the
  after-hours single-price session starts at 17:00 but still ends at 18:00.

The announced 2026 extension of KRX hours has no confirmed go-live date and is not modelled; a
different regime is a different ``SessionSchedule`` passed in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from qts.core.time import at

# Known CSAT dates; more are configuration data (``csat_days=``).
CSAT_DAYS: frozenset[date] = frozenset(
    {date(2023, 11, 16), date(2024, 11, 14), date(2025, 11, 13), date(2026, 11, 19)}
)

# How far next/previous_trading_day look before concluding the calendar is broken.
_MAX_YEARS_SCANNED = 5
XKRX_FIRST_YEAR = 2000  # the first year of ``holidays.financial_holidays("XKRX")``


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    """One day's KST wall-clock times; a special day is another row, not another branch."""

    pre_open_auction_start: time
    open: time
    closing_auction_start: time
    close: time
    after_hours_close_start: time
    after_hours_close_end: time
    after_hours_single_end: time

    def __post_init__(self) -> None:
        times = (
            self.pre_open_auction_start,
            self.open,
            self.closing_auction_start,
            self.close,
            self.after_hours_close_start,
            self.after_hours_close_end,
            self.after_hours_single_end,
        )
        if any(a > b for a, b in pairwise(times)):
            raise ValueError(f"session schedule times must be in order, got {self}")


REGULAR_SCHEDULE = SessionSchedule(
    pre_open_auction_start=time(8, 30),
    open=time(9, 0),
    closing_auction_start=time(15, 20),
    close=time(15, 30),
    after_hours_close_start=time(15, 40),
    after_hours_close_end=time(16, 0),
    after_hours_single_end=time(18, 0),
)
FIRST_DAY_SCHEDULE = SessionSchedule(
    pre_open_auction_start=time(9, 30),
    open=time(10, 0),
    closing_auction_start=time(15, 20),
    close=time(15, 30),
    after_hours_close_start=time(15, 40),
    after_hours_close_end=time(16, 0),
    after_hours_single_end=time(18, 0),
)
CSAT_SCHEDULE = SessionSchedule(
    pre_open_auction_start=time(9, 30),
    open=time(10, 0),
    closing_auction_start=time(16, 20),
    close=time(16, 30),
    after_hours_close_start=time(16, 40),
    after_hours_close_end=time(17, 0),
    after_hours_single_end=time(18, 0),
)


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """A trading day's session boundaries as KST datetimes (each interval is [start, end))."""

    day: date
    pre_open_auction_start: datetime
    open: datetime
    closing_auction_start: datetime
    close: datetime
    after_hours_close_start: datetime
    after_hours_close_end: datetime
    after_hours_single_end: datetime

    @classmethod
    def from_schedule(cls, day: date, schedule: SessionSchedule) -> SessionTimes:
        return cls(
            day=day,
            pre_open_auction_start=at(day, schedule.pre_open_auction_start),
            open=at(day, schedule.open),
            closing_auction_start=at(day, schedule.closing_auction_start),
            close=at(day, schedule.close),
            after_hours_close_start=at(day, schedule.after_hours_close_start),
            after_hours_close_end=at(day, schedule.after_hours_close_end),
            after_hours_single_end=at(day, schedule.after_hours_single_end),
        )


@dataclass(frozen=True, slots=True)
class _Year:
    days: tuple[date, ...]  # sorted trading days
    day_set: frozenset[date]


class KrxCalendar:
    """Trading days and sessions. Pure: never reads the clock; years are built once and cached."""

    def __init__(
        self,
        *,
        extra_closures: Iterable[date] = (),
        extra_openings: Iterable[date] = (),
        csat_days: Iterable[date] = CSAT_DAYS,
        regular: SessionSchedule = REGULAR_SCHEDULE,
        first_day: SessionSchedule = FIRST_DAY_SCHEDULE,
        csat: SessionSchedule = CSAT_SCHEDULE,
    ) -> None:
        self._closures = frozenset(extra_closures)
        self._openings = frozenset(extra_openings)
        both = self._closures & self._openings
        if both:
            raise ValueError(
                "a date cannot be both an extra closure and an extra opening: "
                + ", ".join(sorted(d.isoformat() for d in both))
            )
        self._csat_days = frozenset(csat_days)
        self._regular = regular
        self._first_day = first_day
        self._csat = csat
        self._years: dict[int, _Year] = {}
        self._sessions: dict[date, SessionTimes] = {}

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        import holidays  # ~0.1 s to import; a backtest's own calendar never needs it

        closed = set(holidays.financial_holidays("XKRX", years=year).keys())
        if year < XKRX_FIRST_YEAR:
            # the package's XKRX calendar starts in 2000: before it, the public holidays
            # (KRX's own days, May 1 and the year-end closure, are not known there)
            closed |= set(holidays.country_holidays("KR", years=year).keys())
        days: list[date] = []
        d = date(year, 1, 1)
        while d.year == year:
            open_ = d in self._openings or (d.weekday() < 5 and d not in closed)
            if open_ and d not in self._closures:
                days.append(d)
            d += timedelta(days=1)
        built = _Year(tuple(days), frozenset(days))
        self._years[year] = built
        return built

    def is_trading_day(self, d: date) -> bool:
        return d in self._year(d.year).day_set

    def next_trading_day(self, d: date) -> date:
        """The first trading day strictly after ``d``."""
        for year in range(d.year, d.year + _MAX_YEARS_SCANNED):
            days = self._year(year).days
            i = bisect_right(days, d)
            if i < len(days):
                return days[i]
        raise ValueError(f"no trading day within {_MAX_YEARS_SCANNED} years after {d}")

    def previous_trading_day(self, d: date) -> date:
        """The last trading day strictly before ``d``."""
        for year in range(d.year, d.year - _MAX_YEARS_SCANNED, -1):
            days = self._year(year).days
            i = bisect_left(days, d)
            if i > 0:
                return days[i - 1]
        raise ValueError(f"no trading day within {_MAX_YEARS_SCANNED} years before {d}")

    def add_trading_days(self, d: date, n: int) -> date:
        """The n-th trading day after ``d`` (``d`` itself for n = 0); T+2 is ``(d, 2)``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        for _ in range(n):
            d = self.next_trading_day(d)
        return d

    def settlement_date(self, trade_date: date, lag: int = 2) -> date:
        """KRX settles T+2 (a T+1 move is announced; the lag is a parameter)."""
        return self.add_trading_days(trade_date, lag)

    def trading_days(self, start: date, end: date) -> list[date]:
        """Trading days in [start, end], ascending."""
        out: list[date] = []
        for year in range(start.year, end.year + 1):
            days = self._year(year).days
            out.extend(days[bisect_left(days, start) : bisect_right(days, end)])
        return out

    def first_trading_day_of_year(self, year: int) -> date:
        days = self._year(year).days
        if not days:
            raise ValueError(f"{year} has no trading days")
        return days[0]

    def session(self, d: date) -> SessionTimes:
        """Session times of trading day ``d``; raises on a closed day."""
        cached = self._sessions.get(d)
        if cached is not None:
            return cached
        if not self.is_trading_day(d):
            raise ValueError(f"{d.isoformat()} is not a KRX trading day")
        if d in self._csat_days:
            schedule = self._csat
        elif d == self.first_trading_day_of_year(d.year):
            schedule = self._first_day
        else:
            schedule = self._regular
        times = SessionTimes.from_schedule(d, schedule)
        self._sessions[d] = times
        return times
