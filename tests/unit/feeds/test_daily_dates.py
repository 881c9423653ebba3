"""Daily series keep their dates whatever the UTC offset of the day: Korea's summer time
(1987-88, UTC+10) puts 09:00 KST at 23:00 UTC of the day before, and those days must still be
recognised as daily bars of their own date (the oracle is the CSV's own date column)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from qts.feeds.csv_loader import load_file
from qts.feeds.replay import DAILY_SESSION, FrameTable

MSFT = Path(__file__).parents[2] / "data" / "msft_daily_1986_2017.csv"


def test_msft_from_1986_is_daily_and_every_bar_keeps_its_csv_date() -> None:
    with MSFT.open() as f:
        expected = [date.fromisoformat(r["date"]) for r in csv.DictReader(f)]
    assert date(1987, 6, 1) in expected  # the file spans the summer-time years
    table = FrameTable([load_file(MSFT, price_scale=100)])
    assert table.bar_length == DAILY_SESSION
    got = [table.start(i).date() for i in range(len(table))]
    assert got == expected
    assert all(d.weekday() < 5 for d in got)  # no bar moved onto a weekend
    assert all(table.start(i).hour == 9 and table.start(i).minute == 0 for i in range(len(table)))


def test_minute_data_in_summer_time_stays_intraday() -> None:
    from datetime import time

    import numpy as np

    from qts.core.time import at
    from qts.feeds.bars import BarSeries, to_epoch

    day = date(1988, 7, 1)
    stamps = [at(day, time(9, 0)) + timedelta(minutes=m) for m in range(5)]
    n = len(stamps)
    series = BarSeries(
        "005930",
        np.array([to_epoch(t) for t in stamps], dtype=np.int64),
        *(np.full(n, 10_000, dtype=np.int64) for _ in range(4)),
        np.full(n, 1, dtype=np.int64),
    )
    table = FrameTable([series])
    assert table.bar_length == timedelta(minutes=1)
