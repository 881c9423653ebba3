"""Phases at their boundaries, on regular and special days, from any timezone."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from qts.core.time import kst
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.sessions import (
    RANDOM_END_WINDOW,
    Phase,
    accepts_orders,
    is_auction,
    phase_at,
    random_auction_end,
    single_price_rounds,
)

CAL = KrxCalendar()


@pytest.mark.parametrize(
    ("hms", "phase"),
    [
        ((0, 0, 0), Phase.CLOSED),
        ((8, 29, 59), Phase.CLOSED),
        ((8, 30, 0), Phase.PRE_OPEN_AUCTION),
        ((8, 59, 59), Phase.PRE_OPEN_AUCTION),
        ((9, 0, 0), Phase.CONTINUOUS),
        ((15, 19, 59), Phase.CONTINUOUS),
        ((15, 20, 0), Phase.CLOSING_AUCTION),
        ((15, 29, 59), Phase.CLOSING_AUCTION),
        ((15, 30, 0), Phase.CLOSED),  # decided: no matching between the close and 15:40
        ((15, 39, 59), Phase.CLOSED),
        ((15, 40, 0), Phase.AFTER_HOURS_CLOSE),
        ((15, 59, 59), Phase.AFTER_HOURS_CLOSE),
        ((16, 0, 0), Phase.AFTER_HOURS_SINGLE),
        ((17, 59, 59), Phase.AFTER_HOURS_SINGLE),
        ((18, 0, 0), Phase.CLOSED),
        ((23, 59, 59), Phase.CLOSED),
    ],
)
def test_regular_day_boundaries(hms: tuple[int, int, int], phase: Phase) -> None:
    assert phase_at(kst(2026, 3, 10, *hms), CAL) is phase


@pytest.mark.parametrize(
    ("hms", "phase"),
    [
        ((9, 0, 0), Phase.CLOSED),
        ((9, 29, 59), Phase.CLOSED),
        ((9, 30, 0), Phase.PRE_OPEN_AUCTION),
        ((9, 59, 59), Phase.PRE_OPEN_AUCTION),
        ((10, 0, 0), Phase.CONTINUOUS),
        ((15, 20, 0), Phase.CLOSING_AUCTION),
        ((15, 30, 0), Phase.CLOSED),
        ((16, 0, 0), Phase.AFTER_HOURS_SINGLE),
    ],
)
def test_first_trading_day_of_year(hms: tuple[int, int, int], phase: Phase) -> None:
    assert phase_at(kst(2026, 1, 2, *hms), CAL) is phase


@pytest.mark.parametrize(
    ("hms", "phase"),
    [
        ((8, 30, 0), Phase.CLOSED),
        ((9, 30, 0), Phase.PRE_OPEN_AUCTION),
        ((10, 0, 0), Phase.CONTINUOUS),
        ((15, 30, 0), Phase.CONTINUOUS),
        ((16, 19, 59), Phase.CONTINUOUS),
        ((16, 20, 0), Phase.CLOSING_AUCTION),
        ((16, 30, 0), Phase.CLOSED),
        ((16, 40, 0), Phase.AFTER_HOURS_CLOSE),
        ((17, 0, 0), Phase.AFTER_HOURS_SINGLE),
        ((18, 0, 0), Phase.CLOSED),
    ],
)
def test_csat_day(hms: tuple[int, int, int], phase: Phase) -> None:
    assert phase_at(kst(2026, 11, 19, *hms), CAL) is phase


@pytest.mark.parametrize("day", [(2026, 3, 14), (2026, 9, 24), (2026, 12, 31)])
def test_closed_days_are_closed_all_day(day: tuple[int, int, int]) -> None:
    assert phase_at(kst(*day, 10), CAL) is Phase.CLOSED


def test_other_timezones_are_judged_in_kst() -> None:
    # KST is UTC+9 all year
    assert phase_at(datetime(2026, 3, 10, 0, 0, tzinfo=UTC), CAL) is Phase.CONTINUOUS
    assert phase_at(datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC), CAL) is Phase.PRE_OPEN_AUCTION
    # Friday 23:30 UTC is Saturday 08:30 KST
    assert phase_at(datetime(2026, 3, 13, 23, 30, tzinfo=UTC), CAL) is Phase.CLOSED


def test_naive_timestamp_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        phase_at(datetime(2026, 3, 10, 10), CAL)


@pytest.mark.parametrize(
    ("phase", "accepts", "auction"),
    [
        (Phase.CLOSED, False, False),
        (Phase.PRE_OPEN_AUCTION, True, True),
        (Phase.CONTINUOUS, True, False),
        (Phase.CLOSING_AUCTION, True, True),
        (Phase.AFTER_HOURS_CLOSE, True, False),
        (Phase.AFTER_HOURS_SINGLE, True, True),
    ],
)
def test_phase_properties(phase: Phase, accepts: bool, auction: bool) -> None:
    assert accepts_orders(phase) is accepts
    assert is_auction(phase) is auction


def test_random_auction_end_is_seeded_and_within_30s() -> None:
    nominal = kst(2026, 3, 10, 15, 30)
    a = random_auction_end(nominal, random.Random(7))
    b = random_auction_end(nominal, random.Random(7))
    assert a == b
    rng = random.Random(42)
    ends = [random_auction_end(nominal, rng) for _ in range(500)]
    assert all(nominal <= e < nominal + RANDOM_END_WINDOW for e in ends)
    assert timedelta(seconds=30) == RANDOM_END_WINDOW
    # spread over the window, not stuck at one end
    assert min(ends) < nominal + timedelta(seconds=5)
    assert max(ends) > nominal + timedelta(seconds=25)


def test_random_auction_end_zero_window() -> None:
    nominal = kst(2026, 3, 10, 9)
    assert random_auction_end(nominal, random.Random(1), timedelta(0)) == nominal


def test_single_price_rounds() -> None:
    rounds = single_price_rounds(CAL.session(date(2026, 3, 10)))
    assert len(rounds) == 12
    assert rounds[0] == kst(2026, 3, 10, 16, 10)
    assert rounds[-1] == kst(2026, 3, 10, 18)
    csat = single_price_rounds(CAL.session(date(2026, 11, 19)))
    assert len(csat) == 6
    assert csat[0] == kst(2026, 11, 19, 17, 10)
