"""JSON rows of a list that changes at its ends, made once per entry.

The capital documents are written every cycle, and each holds windows of up to hundreds of
entries (a pool's daily index, a track's closed trades) that change by an entry or two a day:
converting every entry again each cycle was most of the cost of writing them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class JsonRows(Generic[T]):
    """``rows(items)`` equals ``[convert(x) for x in items]``; entries appended at the end or
    dropped at the front (the windows' only changes) are converted or dropped alone, anything
    else converts the list again. Entries are compared by identity."""

    __slots__ = ("_convert", "_rows", "_src")

    def __init__(self, convert: Callable[[T], Any]) -> None:
        self._convert = convert
        self._src: list[T] = []
        self._rows: list[Any] = []

    def rows(self, items: Sequence[T]) -> list[Any]:
        src, n = self._src, len(items)
        if not (src and n and self._sync(items)):
            self._src = list(items)
            self._rows = [self._convert(x) for x in items]
        return list(self._rows)

    def _sync(self, items: Sequence[T]) -> bool:
        src, rows, n = self._src, self._rows, len(items)
        last = src[-1]
        for j in range(n - 1, -1, -1):
            if items[j] is last:
                break
        else:
            return False
        drop = len(src) - (j + 1)
        if drop < 0 or src[drop] is not items[0]:
            return False
        if drop:
            del src[:drop], rows[:drop]
        for x in items[j + 1 :]:
            src.append(x)
            rows.append(self._convert(x))
        return True
