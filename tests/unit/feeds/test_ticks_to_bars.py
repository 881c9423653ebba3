"""Trade prints become one-minute OHLCV frames on minute boundaries."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from qts.core.time import at
from qts.feeds.ticks_to_bars import MinuteBars, Print
from qts.model.frame import Universe

A, B, C = "005930", "000660", "035720"
UNIVERSE = Universe((A, B, C))
T0 = at(datetime(2026, 3, 4).date(), time(9, 0))


def p(symbol: str, seconds: float, price: int, volume: int = 10) -> Print:
    return Print(symbol, T0 + timedelta(seconds=seconds), price, volume)


def test_prints_of_one_minute_make_one_bar_when_the_next_minute_starts() -> None:
    bars = MinuteBars(UNIVERSE)
    for pr in (p(A, 0, 70_000, 5), p(A, 10, 70_300, 7), p(A, 20, 69_900, 1), p(B, 30, 180_000)):
        assert bars.add(pr) == []
    assert bars.add(p(A, 59.999, 70_100, 2)) == []
    (frame,) = bars.add(p(A, 60, 70_200, 3))  # 09:01:00 belongs to the next minute
    assert (frame.start, frame.end) == (T0, T0 + timedelta(minutes=1))
    a, b, c = (UNIVERSE.index(s) for s in (A, B, C))
    assert (frame.open[a], frame.high[a], frame.low[a], frame.close[a]) == (
        70_000,
        70_300,
        69_900,
        70_100,
    )
    assert frame.volume[a] == 5 + 7 + 1 + 2
    assert frame.bar(B) is not None and frame.bar(B).close == 180_000  # type: ignore[union-attr]
    assert frame.volume[b] == 10
    assert not frame.active[c] and frame.bar(C) is None  # no print: inactive
    assert frame.open.dtype.kind == "i" and frame.volume.dtype.kind == "i"
    assert bars.building == T0 + timedelta(minutes=1)


def test_the_clock_closes_a_minute_without_a_later_print() -> None:
    bars = MinuteBars(UNIVERSE)
    bars.add(p(A, 5, 70_000))
    assert bars.close_until(T0 + timedelta(seconds=59)) == []
    (frame,) = bars.close_until(T0 + timedelta(minutes=1))
    assert frame.start == T0 and frame.close[UNIVERSE.index(A)] == 70_000
    assert bars.close_until(T0 + timedelta(minutes=5)) == []  # nothing traded since: no frame
    assert bars.building is None


def test_a_gap_of_silent_minutes_yields_no_empty_frames() -> None:
    bars = MinuteBars(UNIVERSE)
    bars.add(p(A, 0, 70_000))
    (frame,) = bars.add(p(A, 5 * 60 + 1, 70_500))
    assert frame.start == T0
    (nxt,) = bars.close_until(T0 + timedelta(minutes=6))
    assert nxt.start == T0 + timedelta(minutes=5) and nxt.open[UNIVERSE.index(A)] == 70_500


def test_frames_do_not_share_state() -> None:
    bars = MinuteBars(UNIVERSE)
    bars.add(p(A, 0, 70_000, 4))
    (first,) = bars.add(p(B, 60, 180_000, 9))
    (second,) = bars.close_until(T0 + timedelta(minutes=2))
    assert first.active.tolist() == [True, False, False]
    assert second.active.tolist() == [False, True, False]
    assert first.volume.tolist() == [4, 0, 0] and second.volume.tolist() == [0, 9, 0]


def test_late_and_foreign_prints_are_counted_not_booked() -> None:
    bars = MinuteBars(UNIVERSE)
    bars.add(p(A, 60, 70_000))
    assert bars.add(p(A, 30, 1_000)) == []  # its minute is already published
    assert bars.add(p("999999", 61, 5_000)) == []
    (frame,) = bars.close_until(T0 + timedelta(minutes=2))
    assert frame.low[UNIVERSE.index(A)] == 70_000
    assert (bars.late, bars.ignored, bars.prints, bars.frames) == (1, 1, 1, 1)


def test_bad_prints_are_refused() -> None:
    bars = MinuteBars(UNIVERSE)
    with pytest.raises(ValueError, match="timezone-aware"):
        bars.add(Print(A, datetime(2026, 3, 4, 9, 0), 70_000, 1))
    with pytest.raises(ValueError, match="price"):
        bars.add(p(A, 0, 0))
