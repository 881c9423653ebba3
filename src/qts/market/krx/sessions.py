"""Trading phases of a KRX day and what each allows.

Phases use the nominal boundaries of ``SessionTimes``; intervals are half-open [start, end).

Decisions worth knowing:

* 15:30–15:40 (close → after-hours closing-price matching) is CLOSED. KRX already collects
  after-hours closing-price orders then, but nothing matches; QTS sends none before 15:40.
* The pre-hours closing-price trade (08:30–08:40 at the previous close) overlaps the pre-open
  auction and is not a separate phase.
* Every periodic call auction really ends at a random moment up to 30 s after its nominal end;
  ``random_auction_end`` draws that moment from a seeded ``random.Random`` so a simulation stays
  reproducible. ``phase_at`` itself stays on the nominal clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from qts.core.time import KST, require_aware
from qts.market.krx.calendar import KrxCalendar, SessionTimes

RANDOM_END_WINDOW = timedelta(seconds=30)
SINGLE_PRICE_INTERVAL = timedelta(minutes=10)


class Phase(StrEnum):
    CLOSED = "CLOSED"
    PRE_OPEN_AUCTION = "PRE_OPEN_AUCTION"  # 08:30 – open: orders collected, opening call auction
    CONTINUOUS = "CONTINUOUS"  # open – 15:20
    CLOSING_AUCTION = "CLOSING_AUCTION"  # 15:20 – 15:30
    AFTER_HOURS_CLOSE = "AFTER_HOURS_CLOSE"  # 15:40 – 16:00 at the day's close, time priority
    AFTER_HOURS_SINGLE = "AFTER_HOURS_SINGLE"  # 16:00 – 18:00, a call auction every 10 min


_ACCEPTS_ORDERS = frozenset(Phase) - {Phase.CLOSED}
_REGULAR_ORDERS = frozenset({Phase.PRE_OPEN_AUCTION, Phase.CONTINUOUS, Phase.CLOSING_AUCTION})
_AUCTIONS = frozenset({Phase.PRE_OPEN_AUCTION, Phase.CLOSING_AUCTION, Phase.AFTER_HOURS_SINGLE})


def phase_at(ts: datetime, calendar: KrxCalendar) -> Phase:
    """The phase at instant ``ts`` (any timezone; judged on the KST wall clock)."""
    local = require_aware(ts).astimezone(KST)
    day = local.date()
    if not calendar.is_trading_day(day):
        return Phase.CLOSED
    s = calendar.session(day)
    if local < s.pre_open_auction_start:
        return Phase.CLOSED
    if local < s.open:
        return Phase.PRE_OPEN_AUCTION
    if local < s.closing_auction_start:
        return Phase.CONTINUOUS
    if local < s.close:
        return Phase.CLOSING_AUCTION
    if local < s.after_hours_close_start:
        return Phase.CLOSED
    if local < s.after_hours_close_end:
        return Phase.AFTER_HOURS_CLOSE
    if local < s.after_hours_single_end:
        return Phase.AFTER_HOURS_SINGLE
    return Phase.CLOSED


def accepts_orders(phase: Phase) -> bool:
    return phase in _ACCEPTS_ORDERS


def accepts_regular_orders(phase: Phase) -> bool:
    """True where a regular limit or market order is taken: 08:30 to the close. The after-hours
    sessions take only their own order types (closing-price, single-price), never a market
    order."""
    return phase in _REGULAR_ORDERS


def regular_order_hours(calendar: KrxCalendar, now: Callable[[], datetime]) -> Callable[[], bool]:
    """Does a broker take a regular order now, on the venue's clock ``now``."""
    return lambda: accepts_regular_orders(phase_at(now(), calendar))


def is_auction(phase: Phase) -> bool:
    """True where orders are matched by a single-price call auction rather than continuously."""
    return phase in _AUCTIONS


def random_auction_end(
    nominal_end: datetime, rng: random.Random, window: timedelta = RANDOM_END_WINDOW
) -> datetime:
    """Actual end of a call auction: nominal end plus a uniform delay in [0, window)."""
    micros = int(window / timedelta(microseconds=1))
    if micros <= 0:
        return nominal_end
    return nominal_end + timedelta(microseconds=rng.randrange(micros))


def single_price_rounds(session: SessionTimes) -> list[datetime]:
    """Nominal match times of the after-hours single-price session (every 10 min)."""
    rounds: list[datetime] = []
    t = session.after_hours_close_end + SINGLE_PRICE_INTERVAL
    while t <= session.after_hours_single_end:
        rounds.append(t)
        t += SINGLE_PRICE_INTERVAL
    return rounds
