"""The venue's view of prices and days, split from :mod:`~qts.brokers.sim.exchange` to keep that
module about orders: the market arrays indexed like the bound universe, last closes and base
prices, the daily price limits derived from them, the trading day and expiry of an order at the
venue, and the settlement date a sell tax is keyed by.

:class:`MarketState` is a base class of :class:`~qts.brokers.sim.exchange.SimExchange` (no
object in between: the matching loop calls these methods on the exchange itself); the exchange's
``__init__`` sets the attributes declared here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

from qts.brokers.sim.config import SimConfig
from qts.core.time import KST
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.price_limit import PriceLimits
from qts.market.krx.rules import KrxRules, rules_for
from qts.model.frame import IntArray, Universe
from qts.model.instrument import Instrument


class MarketState:
    """Prices, limits and days of a :class:`~qts.brokers.sim.exchange.SimExchange`."""

    instruments: dict[str, Instrument]
    config: SimConfig
    calendar: KrxCalendar
    _last_trading_day: tuple[datetime, tuple[date, datetime, datetime]] | None
    _universe: Universe | None
    _col: dict[str, int]
    _last_close: IntArray
    _base: IntArray
    _pre_close: dict[str, int]
    _pre_base: dict[str, int]
    _last_start: datetime | None
    _day: date | None
    _next_midnight: datetime | None
    _limits: dict[str, PriceLimits | None]
    _settle: dict[date, date]

    def note_price(self, symbol: str, price: int) -> None:
        """The last traded price of a book-mode symbol (market-buy holds, tomorrow's base)."""
        i = self._col.get(symbol)
        if i is not None:
            self._last_close[i] = price
        else:
            self._pre_close[symbol] = price

    def price_limits(self, symbol: str, day: date) -> PriceLimits | None:
        """The daily limits the venue applies to ``symbol`` on ``day`` (None while unknown)."""
        inst = self.instruments[symbol]
        return self._limits_for(symbol, day, inst)

    def last_close(self, symbol: str) -> int:
        """The latest close seen for ``symbol`` (0 if none)."""
        return self._close_of(symbol)

    def market_state(self) -> dict[str, Any]:
        """The small, JSON-able part of the market state."""
        return {
            "last_start": self._last_start.isoformat() if self._last_start else None,
            "day": self._day.isoformat() if self._day else None,
            "universe": list(self._universe.symbols) if self._universe is not None else None,
            "pre_close": self._pre_close,
            "pre_base": self._pre_base,
        }

    def market_arrays(self) -> tuple[IntArray, IntArray]:
        """(base, last close), indexed like the bound universe."""
        return self._base, self._last_close

    def _trading_day(self, eligible: datetime) -> tuple[date, datetime, datetime]:
        """(trading day, first instant it may match, expiry) of an order at the venue then
        (the orders of one cycle share their instant: the last answer is kept)."""
        last = self._last_trading_day
        if last is not None and last[0] == eligible and last[0].tzinfo is eligible.tzinfo:
            return last[1]
        got = self._find_trading_day(eligible)
        self._last_trading_day = (eligible, got)
        return got

    def _find_trading_day(self, eligible: datetime) -> tuple[date, datetime, datetime]:
        local = eligible.astimezone(KST)
        d = local.date()
        cal = self.calendar
        if cal.is_trading_day(d):
            close = cal.session(d).close
            if local < close:
                return d, eligible, close
        d = cal.next_trading_day(d)
        return d, max(eligible, _midnight(d)), cal.session(d).close

    def _close_of(self, symbol: str) -> int:
        i = self._col.get(symbol)
        if i is not None:
            value = int(self._last_close[i])
            if value > 0:
                return value
        return self._pre_close.get(symbol, 0)

    def _base_of(self, symbol: str) -> int:
        i = self._col.get(symbol)
        if i is not None:
            value = int(self._base[i])
            if value > 0:
                return value
        return self._pre_base.get(symbol, 0)

    def _limits_for(
        self, symbol: str, day: date, inst: Instrument, rules: KrxRules | None = None
    ) -> PriceLimits | None:
        """Limits of ``day``: today's base while that day trades, else the latest close
        (``rules``: the caller's ``rules_for(inst, day)``, not looked up twice per order)."""
        if not self.config.price_limits:
            return None
        if self._day is not None and day <= self._day:
            return self._limits_today(symbol, inst)
        base = self._close_of(symbol)
        if base <= 0:
            return None
        return (rules if rules is not None else rules_for(inst, day)).limits(base)

    def _limits_today(self, symbol: str, inst: Instrument) -> PriceLimits | None:
        try:
            return self._limits[symbol]
        except KeyError:
            base = self._base_of(symbol)
            limits = rules_for(inst, self._day).limits(base) if base > 0 else None
            self._limits[symbol] = limits
            return limits

    def _bind(self, universe: Universe) -> None:
        """Index the market arrays like ``universe`` (carrying values over by symbol)."""
        old = self._universe
        if old is not None and old == universe:
            self._universe = universe
            return
        if old is not None:
            for s, i in self._col.items():
                if self._last_close[i] > 0:
                    self._pre_close[s] = int(self._last_close[i])
                if self._base[i] > 0:
                    self._pre_base[s] = int(self._base[i])
        n = len(universe)
        self._last_close = np.zeros(n, dtype=np.int64)
        self._base = np.zeros(n, dtype=np.int64)
        self._col = {s: i for i, s in enumerate(universe.symbols)}
        for s, i in self._col.items():
            self._last_close[i] = self._pre_close.get(s, 0)
            self._base[i] = self._pre_base.get(s, 0)
        self._universe = universe
        self._limits.clear()

    def _new_day(self, start: datetime) -> None:
        """A frame of a new calendar day: yesterday's last closes become today's base prices."""
        d = start.astimezone(KST).date()
        self._day = d
        self._next_midnight = _midnight(d + timedelta(days=1))
        self._base = self._last_close.copy()
        self._pre_base = dict(self._pre_close)
        self._limits.clear()

    def _settle_date(self, ts: datetime) -> date:
        """T+2 on the KRX calendar: the date the sell tax is keyed by."""
        trade_date = ts.astimezone(KST).date()
        settle = self._settle.get(trade_date)
        if settle is None:
            settle = self._settle[trade_date] = self.calendar.add_trading_days(trade_date, 2)
        return settle


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=KST)
