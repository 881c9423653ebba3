"""Durations on the report page read as "50 d 10 h", not as Python's timedelta repr."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qts.backtest.report import human_duration


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(days=50, hours=10, minutes=7), "50 d 10 h"),
        (timedelta(hours=3, minutes=5, seconds=9), "3 h 5 min"),
        (timedelta(seconds=42), "42 s"),
        (timedelta(0), "0 s"),
        (timedelta(days=1, minutes=5), "1 d 5 min"),
        (timedelta(days=-2, hours=-1), "-2 d 1 h"),
        (None, "-"),
    ],
)
def test_two_largest_units(td: timedelta | None, text: str) -> None:
    assert human_duration(td) == text
    assert "day," not in human_duration(td) and ":" not in human_duration(td)
