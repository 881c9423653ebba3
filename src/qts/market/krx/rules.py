"""The KRX rules in force for one kind of security on one day: tick grid and daily limit.

One entry point for code that replays history (a 2010 backtest rounds with 2010 ticks and ±15 %
limits) and for code that trades today (``day=None``). Each rule comes from its own dated table
(``tick_size.TICK_HISTORY``, ``price_limit.LIMIT_HISTORY``), looked up the same way
(``dated.in_force``); the sell tax is keyed by settlement date instead and lives in ``fees``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from qts.market.krx.price_limit import PriceLimits, daily_limits, limit_rate_percent
from qts.market.krx.tick_size import TickTable, tick_table
from qts.model.instrument import Instrument, Market


@dataclass(frozen=True, slots=True)
class KrxRules:
    grid: TickTable
    limit_percent: int

    def limits(self, base: int) -> PriceLimits:
        """The day's price limits around ``base`` (a positive, usually previous close)."""
        return _limits(base, self.limit_percent, self.grid)


@lru_cache(maxsize=65536)
def _limits(base: int, rate_percent: int, grid: TickTable) -> PriceLimits:
    """The limits are a pure function of these three; a venue asks for them per order (a
    1,000-symbol backtest: tens of thousands of times, for far fewer distinct bases)."""
    return daily_limits(base, rate_percent=rate_percent, grid=grid)


@lru_cache(maxsize=1024)
def rules_on(day: date | None, market: Market = Market.KOSPI, etf: bool = False) -> KrxRules:
    """Rules for a stock of ``market`` (or an ETF listed there) on ``day``; None means today."""
    return KrxRules(tick_table(day, market, etf), limit_rate_percent(day, market))


def rules_for(instrument: Instrument, day: date | None) -> KrxRules:
    return rules_on(day, instrument.market, instrument.is_etf)
