"""Rules with an effective-from date: the one mechanism every dated KRX table uses.

A table is a sequence of rows in strictly increasing ``effective_from`` order; the row in force on
a day is the last one that starts on or before it. A day before the first row gets the first row:
that row's date is the table's horizon (how far back the history is known), not a claim that the
rule began then.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from typing import Protocol, TypeVar


class Dated(Protocol):
    @property
    def effective_from(self) -> date: ...


R = TypeVar("R", bound=Dated)


def check_rows(rows: Sequence[R], what: str) -> tuple[R, ...]:
    """``rows`` as a tuple, refused when empty or not in strictly increasing date order."""
    if not rows:
        raise ValueError(f"{what} is empty")
    dates = [r.effective_from for r in rows]
    if any(b <= a for a, b in pairwise(dates)):
        raise ValueError(f"{what} rows must have strictly increasing effective dates")
    return tuple(rows)


def in_force(rows: Sequence[R], day: date) -> R:
    """The row in force on ``day`` (the first row for days before the table's horizon)."""
    i = bisect_right([r.effective_from for r in rows], day) - 1
    return rows[max(i, 0)]
