"""CD-001's gate on the cut-over to the database alone: DB_ONLY needs ``required`` consecutive
clean consistency-check days (14 by default), and a refusal names the days still missing.

The days are the KST calendar days of :class:`~qts.data.hybrid.checker.ConsistencyChecker`
(weekends included). The window is the ``required`` days ending today, or yesterday when
today has no check yet (as the streak counts them). Every day of the window up to the last one
that had no check, a difference or a pending outbox op is missing: the streak restarts after
it. With every day clean from now on, DB_ONLY opens that many days after the window's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from qts.core.errors import StorageError
from qts.core.time import KST, require_aware
from qts.data.hybrid.checker import DEFAULT_REQUIRED_DAYS
from qts.data.hybrid.outbox import CheckDay


@dataclass(frozen=True, slots=True)
class MissingDay:
    day: date
    why: str  # "no check", "3 differences", "2 pending writes"

    def __str__(self) -> str:
        return f"{self.day.isoformat()} ({self.why})"


def missing_days(
    days: Iterable[CheckDay], now: datetime, required: int = DEFAULT_REQUIRED_DAYS
) -> list[MissingDay]:
    """The days of the window that still keep DB_ONLY closed, oldest first ([] = allowed)."""
    if required < 1:
        raise StorageError(f"cutover: required days must be at least 1, got {required}")
    by_day = {d.day: d for d in days}
    end = _window_end(by_day, now)
    window = [end - timedelta(days=n) for n in range(required - 1, -1, -1)]
    last_bad = -1
    for i, day in enumerate(window):
        entry = by_day.get(day)
        if entry is None or not entry.clean:
            last_bad = i
    out: list[MissingDay] = []
    for day in window[: last_bad + 1]:
        out.append(MissingDay(day, _why(by_day.get(day))))
    return out


def _window_end(by_day: dict[date, CheckDay], now: datetime) -> date:
    today = require_aware(now, "cutover time").astimezone(KST).date()
    return today if today in by_day else today - timedelta(days=1)


def _why(entry: CheckDay | None) -> str:
    if entry is None:
        return "no check"
    if entry.differences:
        return f"{entry.differences} differences"
    if entry.pending:
        return f"{entry.pending} pending writes"
    return "clean, before an unclean day"  # the streak restarted after it


def require_cutover(
    days: Iterable[CheckDay], now: datetime, required: int = DEFAULT_REQUIRED_DAYS
) -> None:
    """Raise StorageError naming the missing days unless DB_ONLY is allowed as of ``now``."""
    days = list(days)
    missing = missing_days(days, now, required)
    if not missing:
        return
    have = required - len(missing)
    earliest = _window_end({d.day: d for d in days}, now) + timedelta(days=len(missing))
    raise StorageError(
        f"hybrid: DB_ONLY cutover refused (CD-001): it needs {required} consecutive clean "
        f"consistency-check days, {have} so far; days still missing: "
        + ", ".join(map(str, missing))
        + f"; with a clean check every day DB_ONLY opens on {earliest.isoformat()}; keep "
        "DUAL_WRITE or DB_PRIMARY until then (`qts run` checks once a day)"
    )
