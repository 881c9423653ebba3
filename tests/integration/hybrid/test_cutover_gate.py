"""CD-001 inside `qts run`: the consistency check runs once a day on the run's clock and
records the day, and DB_ONLY is refused until 14 consecutive clean days, naming the days still
missing."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import META, Trader, trade_some

from qts.app.cutover import consistency_job, daily
from qts.app.stores import open_store
from qts.config.models import DataSection
from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data import MemoryStore, SqliteStore
from qts.data.hybrid import DataSourceMode, HybridStore, Outbox
from qts.data.hybrid.cutover import missing_days, require_cutover
from qts.model.frame import BarFrame, Universe

NOW = kst(2026, 3, 20, 10, 0)


def frames(days: list[date], per_day: int = 3) -> list[BarFrame]:
    universe = Universe(("005930",))
    out = []
    for day in days:
        for n in range(per_day):
            start = datetime(day.year, day.month, day.day, 9, n, tzinfo=NOW.tzinfo)
            one = np.ones(1, dtype=np.int64)
            out.append(
                BarFrame(
                    universe,
                    start,
                    start + timedelta(minutes=1),
                    one,
                    one,
                    one,
                    one,
                    one,
                    np.ones(1, dtype=bool),
                )
            )
    return out


def record(
    outbox: Outbox, first: date, count: int, *, dirty: frozenset[date] = frozenset()
) -> None:
    for n in range(count):
        day = first + timedelta(days=n)
        at = datetime(day.year, day.month, day.day, 18, tzinfo=NOW.tzinfo)
        outbox.record_check(day, at, 1 if day in dirty else 0, 0)


def test_the_daily_check_runs_once_per_day_of_the_runs_clock(tmp_path: Path) -> None:
    sheets, db = SqliteStore(tmp_path / "s.sqlite"), MemoryStore()
    store = HybridStore(sheets, db, Outbox(tmp_path / "o.outbox"), DataSourceMode.DUAL_WRITE)
    try:
        store.init_run(META)
        trade_some(Trader(store))
        job = consistency_job(store)
        assert job is not None
        days = [date(2026, 3, 16), date(2026, 3, 17), date(2026, 3, 18)]
        assert len(list(daily(frames(days), [job]))) == 9  # the frames pass through
        checked = store.outbox.check_days()
        assert [(d.day, d.checks, d.clean) for d in checked] == [(d, 1, True) for d in days]
        # the database side lost a write behind the hybrid store's back: the next day's
        # check finds it and the day is not clean
        order = db.load_orders()[0]
        db.save_order(dataclasses.replace(order, reason="edited in the database only"))
        list(daily(frames([date(2026, 3, 19)], 1), [job]))
        last = store.outbox.check_days()[-1]
        assert (last.day, last.clean, last.differences) == (date(2026, 3, 19), False, 1)
    finally:
        store.close()


def test_no_check_where_the_mode_writes_one_side() -> None:
    sheets, db = MemoryStore(), MemoryStore()
    for mode in (DataSourceMode.SHEETS_ONLY, DataSourceMode.DB_ONLY):
        assert consistency_job(HybridStore(sheets, db, Outbox(":memory:"), mode)) is None
    assert consistency_job(MemoryStore()) is None


def test_missing_days_name_each_day_and_why(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.outbox")
    try:
        # 10 days checked up to today, one with a difference on the 12th
        record(outbox, date(2026, 3, 11), 10, dirty=frozenset({date(2026, 3, 12)}))
        missing = missing_days(outbox.check_days(), NOW)
        # the window is 03-07..03-20; the streak restarts after the unclean 03-12
        assert [str(m) for m in missing] == [
            "2026-03-07 (no check)",
            "2026-03-08 (no check)",
            "2026-03-09 (no check)",
            "2026-03-10 (no check)",
            "2026-03-11 (clean, before an unclean day)",
            "2026-03-12 (1 differences)",
        ]
        with pytest.raises(StorageError) as caught:
            require_cutover(outbox.check_days(), NOW)
        text = str(caught.value)
        assert "DB_ONLY cutover refused (CD-001)" in text and "8 so far" in text
        assert "2026-03-12 (1 differences)" in text and "2026-03-07 (no check)" in text
        assert "opens on 2026-03-26" in text
        record(outbox, date(2026, 3, 21), 6)  # six more clean days
        require_cutover(outbox.check_days(), NOW + timedelta(days=6))
    finally:
        outbox.close()


def test_qts_run_refuses_db_only_before_the_streak(tmp_path: Path) -> None:
    path = tmp_path / "run.outbox"
    record(Outbox(path), date(2026, 3, 18), 3)
    data = DataSection(backend="hybrid", hybrid_mode="DB_ONLY", outbox=str(path))
    with pytest.raises(StorageError, match=r"needs 14 consecutive clean .* 3 so far"):
        open_store(data, None, durable=True, now=NOW)
