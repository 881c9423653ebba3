"""KRX calendar: 2026 closures, T+2 settlement, special-day session times."""

from __future__ import annotations

import itertools
from datetime import date, time

import pytest

from qts.core.time import KST, kst
from qts.market.krx.calendar import (
    CSAT_SCHEDULE,
    REGULAR_SCHEDULE,
    KrxCalendar,
    SessionSchedule,
)

CAL = KrxCalendar()


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),  # New Year
        date(2026, 2, 16),  # Seollal
        date(2026, 2, 17),
        date(2026, 2, 18),
        date(2026, 3, 2),  # substitute for Independence Movement Day
        date(2026, 5, 1),  # Labour Day: KRX closed
        date(2026, 5, 5),
        date(2026, 6, 3),  # local elections
        date(2026, 9, 24),  # Chuseok
        date(2026, 9, 25),
        date(2026, 10, 9),
        date(2026, 12, 25),
        date(2026, 12, 31),  # year-end closure
        date(2025, 12, 31),
        date(2023, 12, 29),  # 2023-12-31 was a Sunday: the closure moves to the last weekday
        date(2026, 1, 3),  # Saturday
        date(2026, 1, 4),  # Sunday
    ],
)
def test_closed_days(day: date) -> None:
    assert not CAL.is_trading_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 2),
        date(2026, 2, 13),
        date(2026, 2, 19),
        date(2026, 9, 23),
        date(2026, 9, 28),
        date(2026, 12, 30),
        date(2025, 12, 30),
    ],
)
def test_open_days(day: date) -> None:
    assert CAL.is_trading_day(day)


@pytest.mark.parametrize(
    ("trade", "settle"),
    [
        (date(2026, 1, 7), date(2026, 1, 9)),  # Wed -> Fri
        (date(2026, 1, 8), date(2026, 1, 12)),  # Thu -> Mon, across the weekend
        (date(2026, 1, 9), date(2026, 1, 13)),  # Fri -> Tue
        (date(2026, 9, 22), date(2026, 9, 28)),  # Tue -> Mon, across Chuseok (24-25) + weekend
        (date(2026, 9, 23), date(2026, 9, 29)),  # Wed -> Tue
        (date(2025, 12, 29), date(2026, 1, 2)),  # 12-31 and 01-01 closed
        (date(2024, 12, 27), date(2025, 1, 2)),  # the Hanyang notice's first 2025-rate sell
        (date(2024, 12, 26), date(2024, 12, 30)),
    ],
)
def test_t_plus_2(trade: date, settle: date) -> None:
    assert CAL.add_trading_days(trade, 2) == settle
    assert CAL.settlement_date(trade) == settle


def test_add_trading_days_zero_and_negative() -> None:
    assert CAL.add_trading_days(date(2026, 1, 3), 0) == date(2026, 1, 3)
    assert CAL.add_trading_days(date(2026, 1, 3), 1) == date(2026, 1, 5)
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_trading_days(date(2026, 1, 5), -1)


def test_add_many_trading_days_crosses_years() -> None:
    days = CAL.trading_days(date(2025, 12, 1), date(2026, 3, 31))
    assert CAL.add_trading_days(days[0], len(days) - 1) == days[-1]


def test_next_and_previous_are_strict() -> None:
    assert CAL.next_trading_day(date(2026, 1, 5)) == date(2026, 1, 6)
    assert CAL.next_trading_day(date(2025, 12, 30)) == date(2026, 1, 2)
    assert CAL.previous_trading_day(date(2026, 1, 2)) == date(2025, 12, 30)
    assert CAL.previous_trading_day(date(2026, 9, 28)) == date(2026, 9, 23)
    assert CAL.next_trading_day(date(2026, 2, 13)) == date(2026, 2, 19)


def test_trading_days_inclusive() -> None:
    assert CAL.trading_days(date(2026, 9, 21), date(2026, 9, 30)) == [
        date(2026, 9, 21),
        date(2026, 9, 22),
        date(2026, 9, 23),
        date(2026, 9, 28),
        date(2026, 9, 29),
        date(2026, 9, 30),
    ]
    assert CAL.trading_days(date(2025, 12, 29), date(2026, 1, 6)) == [
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2026, 1, 2),
        date(2026, 1, 5),
        date(2026, 1, 6),
    ]
    assert CAL.trading_days(date(2026, 1, 6), date(2026, 1, 5)) == []
    assert CAL.trading_days(date(2026, 1, 3), date(2026, 1, 4)) == []


def test_regular_session_times() -> None:
    s = CAL.session(date(2026, 3, 10))
    assert s.pre_open_auction_start == kst(2026, 3, 10, 8, 30)
    assert s.open == kst(2026, 3, 10, 9)
    assert s.closing_auction_start == kst(2026, 3, 10, 15, 20)
    assert s.close == kst(2026, 3, 10, 15, 30)
    assert s.after_hours_close_start == kst(2026, 3, 10, 15, 40)
    assert s.after_hours_close_end == kst(2026, 3, 10, 16)
    assert s.after_hours_single_end == kst(2026, 3, 10, 18)
    assert s.open.tzinfo is KST


@pytest.mark.parametrize("day", [date(2024, 1, 2), date(2025, 1, 2), date(2026, 1, 2)])
def test_first_trading_day_opens_at_10_and_closes_as_usual(day: date) -> None:
    s = CAL.session(day)
    assert CAL.first_trading_day_of_year(day.year) == day
    assert (s.pre_open_auction_start.time(), s.open.time()) == (time(9, 30), time(10))
    assert (s.closing_auction_start.time(), s.close.time()) == (time(15, 20), time(15, 30))
    assert s.after_hours_single_end.time() == time(18)


def test_second_trading_day_is_regular() -> None:
    assert CAL.session(date(2026, 1, 5)).open.time() == time(9)


@pytest.mark.parametrize(
    "day", [date(2023, 11, 16), date(2024, 11, 14), date(2025, 11, 13), date(2026, 11, 19)]
)
def test_csat_day_shifted_one_hour(day: date) -> None:
    s = CAL.session(day)
    assert s.pre_open_auction_start.time() == time(9, 30)
    assert s.open.time() == time(10)
    assert s.closing_auction_start.time() == time(16, 20)
    assert s.close.time() == time(16, 30)
    assert s.after_hours_close_start.time() == time(16, 40)
    assert s.after_hours_close_end.time() == time(17)
    assert s.after_hours_single_end.time() == time(18)  # KRX keeps the 18:00 end


def test_csat_days_are_configurable() -> None:
    day = date(2027, 11, 18)
    assert CAL.is_trading_day(day)
    assert CAL.session(day).open.time() == time(9)
    custom = KrxCalendar(csat_days={day})
    assert custom.session(day).open.time() == time(10)
    assert custom.session(date(2026, 11, 19)).open.time() == time(9)


def test_extra_closure_and_opening() -> None:
    cal = KrxCalendar(extra_closures=[date(2026, 1, 5)], extra_openings=[date(2026, 5, 1)])
    assert not cal.is_trading_day(date(2026, 1, 5))
    assert cal.next_trading_day(date(2026, 1, 2)) == date(2026, 1, 6)
    assert cal.is_trading_day(date(2026, 5, 1))
    assert cal.session(date(2026, 5, 1)).open.time() == time(9)


def test_extra_closure_of_first_day_moves_the_late_open() -> None:
    cal = KrxCalendar(extra_closures=[date(2026, 1, 2)])
    assert cal.first_trading_day_of_year(2026) == date(2026, 1, 5)
    assert cal.session(date(2026, 1, 5)).open.time() == time(10)


def test_conflicting_extra_dates_rejected() -> None:
    with pytest.raises(ValueError, match="2026-05-01"):
        KrxCalendar(extra_closures=[date(2026, 5, 1)], extra_openings=[date(2026, 5, 1)])


def test_session_on_closed_day_rejected() -> None:
    with pytest.raises(ValueError, match="not a KRX trading day"):
        CAL.session(date(2026, 9, 24))


def test_custom_schedule() -> None:
    late = SessionSchedule(
        pre_open_auction_start=time(7),
        open=time(9),
        closing_auction_start=time(15, 20),
        close=time(15, 30),
        after_hours_close_start=time(15, 40),
        after_hours_close_end=time(16),
        after_hours_single_end=time(20),
    )
    cal = KrxCalendar(regular=late)
    assert cal.session(date(2026, 3, 10)).after_hours_single_end == kst(2026, 3, 10, 20)
    assert REGULAR_SCHEDULE != CSAT_SCHEDULE


def test_schedule_out_of_order_rejected() -> None:
    with pytest.raises(ValueError, match="in order"):
        SessionSchedule(
            pre_open_auction_start=time(9),
            open=time(8, 30),
            closing_auction_start=time(15, 20),
            close=time(15, 30),
            after_hours_close_start=time(15, 40),
            after_hours_close_end=time(16),
            after_hours_single_end=time(18),
        )


def test_matches_a_plain_day_by_day_scan() -> None:
    """The bisect-based lookups agree with walking the calendar one day at a time."""
    start, end = date(2025, 11, 1), date(2026, 2, 28)
    days = CAL.trading_days(start, end)
    walk = []
    d = start
    while d <= end:
        if CAL.is_trading_day(d):
            walk.append(d)
        d = d.fromordinal(d.toordinal() + 1)
    assert days == walk
    for a, b in itertools.pairwise(days):
        assert CAL.next_trading_day(a) == b
        assert CAL.previous_trading_day(b) == a


def test_years_before_the_packages_xkrx_calendar_close_the_public_holidays() -> None:
    """``holidays``' XKRX calendar starts in 2000; 1999 and 1986 used to be weekdays only."""
    cal = KrxCalendar()
    for closed in (date(1999, 3, 1), date(1999, 9, 24), date(1986, 12, 25), date(1999, 2, 16)):
        assert not cal.is_trading_day(closed), closed
    assert cal.is_trading_day(date(1999, 3, 2))
    # settlement crosses the holiday: a Friday trade before March 1st settles on Wednesday
    assert cal.add_trading_days(date(1999, 2, 26), 2) == date(1999, 3, 3)
