"""A calendar whose trading days are the days the data has bars for.

Backtests over recorded series (which may come from another market) must let "the next bar" be
the next session: KRX holidays that the data trades through are trading days here, and every
session keeps the regular hours. Years outside the data fall back to weekdays.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from qts.market.krx.calendar import REGULAR_SCHEDULE, KrxCalendar, _Year


class BarCalendar(KrxCalendar):
    def __init__(self, days: Iterable[date]) -> None:
        super().__init__(csat_days=(), first_day=REGULAR_SCHEDULE)
        self._data_days = sorted(set(days))
        self._data_years = {d.year for d in self._data_days}

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if year in self._data_years:
            days = tuple(d for d in self._data_days if d.year == year)
        else:
            d, out = date(year, 1, 1), []
            while d.year == year:
                if d.weekday() < 5:
                    out.append(d)
                d += timedelta(days=1)
            days = tuple(out)
        built = _Year(days, frozenset(days))
        self._years[year] = built
        return built
