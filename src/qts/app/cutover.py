"""CD-001 inside ``qts run``: the hybrid store's consistency check once a day, and the gate that
refuses DB_ONLY until the checker has recorded enough consecutive clean days.

The check runs at the first bar of every KST day on the run's clock (and at the first bar of a
run), while the mode writes both stores (DUAL_WRITE, DB_PRIMARY): it compares Sheets with the
database row by row and records the day in the outbox (clean: no difference, nothing pending).
A difference is reported as a safety warning naming the rows, and trading goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime

from qts.core.errors import QtsError
from qts.core.time import KST
from qts.data.hybrid import DB, SHEETS, CheckReport, ConsistencyChecker, DataSourceMode
from qts.data.hybrid import HybridStore as _Hybrid
from qts.data.hybrid.checker import DEFAULT_REQUIRED_DAYS
from qts.data.hybrid.cutover import require_cutover
from qts.data.hybrid.outbox import Outbox
from qts.data.ports import TradingStore
from qts.model.frame import BarFrame

log = logging.getLogger(__name__)
DailyJob = Callable[[datetime], object]
_CHECKED_MODES = (DataSourceMode.DUAL_WRITE, DataSourceMode.DB_PRIMARY)


def check_cutover(outbox: Outbox, mode: DataSourceMode | str, now: datetime, required: int) -> None:
    """Refuse DB_ONLY (StorageError naming the missing days) before the streak is complete."""
    if DataSourceMode(mode) is DataSourceMode.DB_ONLY:
        require_cutover(outbox.check_days(), now, required)


def consistency_job(
    store: TradingStore,
    report: Callable[[str], None] | None = None,
    required: int = DEFAULT_REQUIRED_DAYS,
) -> DailyJob | None:
    """The daily check of a hybrid store that writes both sides; None for any other store."""
    if not isinstance(store, _Hybrid) or store.mode not in _CHECKED_MODES:
        return None
    checker = ConsistencyChecker(store.target(SHEETS), store.target(DB), store.outbox)

    def run(now: datetime) -> CheckReport:
        result = checker.run(now)
        streak = checker.streak(now)
        if result.clean:
            log.info("CD-001 check clean; streak %d of %d days", streak, required)
        else:
            shown = "; ".join(map(str, result.differences[:5]))
            message = (
                f"CD-001 consistency check: {len(result.differences)} differences, "
                f"{result.pending} pending writes ({shown}); the cutover streak restarts"
            )
            log.warning("%s", message)
            if report is not None:
                report(message)
        return result

    return run


def daily(frames: Iterable[BarFrame], jobs: list[DailyJob]) -> Iterator[BarFrame]:
    """Pass the frames through and run ``jobs`` at the first frame of each KST day. A job that
    fails is logged; trading goes on."""
    day: date | None = None
    for frame in frames:
        today = frame.start.astimezone(KST).date()
        if today != day:
            day = today
            for job in jobs:
                try:
                    job(frame.start)
                except QtsError as exc:
                    log.warning("daily job failed: %s", exc)
        yield frame
