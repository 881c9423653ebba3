"""The memory store's equity curve as int64 columns in time order.

Why: a backtest records one point per cycle. As a tuple of a datetime and six ints in a dict
keyed by another datetime, a point took about 450 bytes, so a million minute bars grew a run by
about 450 MB; as one int64 row (UTC microseconds and the six amounts) it takes 56 bytes.

It behaves as the mapping ``MemoryStore`` keeps its tables in (``get``, item assignment and
deletion keyed by the UTC instant, rows as tuples), so the store's transaction undo log works on
it unchanged. Rows come back with the instant as a UTC datetime; the store converts it to its
zone on load, as it does for every stored time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
WIDTH = 7  # ts (UTC microseconds), cash, market_value, equity, realized, unrealized, fees


def _micros(instant: datetime) -> int:
    return (instant - EPOCH) // _US


def _instant(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class EquityColumns:
    """Points keyed by their instant, one per instant, always sorted by it."""

    def __init__(self) -> None:
        self._rows: npt.NDArray[np.int64] = np.empty((0, WIDTH), dtype=np.int64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _find(self, micros: int) -> tuple[int, bool]:
        """Where the instant is (or would go) and whether it is there."""
        n = self._n
        if n == 0:
            return 0, False
        last = int(self._rows[n - 1, 0])
        if micros > last:  # the usual case: the next cycle's point
            return n, False
        if micros == last:
            return n - 1, True
        i = int(np.searchsorted(self._rows[:n, 0], micros))
        return i, bool(int(self._rows[i, 0]) == micros)

    def get(self, key: datetime, default: Any = None) -> Any:
        i, found = self._find(_micros(key))
        return self._row(i) if found else default

    def __getitem__(self, key: datetime) -> tuple[Any, ...]:
        i, found = self._find(_micros(key))
        if not found:
            raise KeyError(key)
        return self._row(i)

    def __setitem__(self, key: datetime, row: tuple[Any, ...]) -> None:
        micros = _micros(key)
        # row[0] is the same instant, maybe in another zone; an amount outside int64 raises
        # here (as SQLite refuses it), before anything moved
        values = np.array([micros, *row[1:]], dtype=np.int64)
        i, found = self._find(micros)
        if not found:
            self._make_room()
            if i < self._n:
                self._rows[i + 1 : self._n + 1] = self._rows[i : self._n]
            self._n += 1
        self._rows[i] = values

    def __delitem__(self, key: datetime) -> None:
        i, found = self._find(_micros(key))
        if not found:
            raise KeyError(key)
        self._rows[i : self._n - 1] = self._rows[i + 1 : self._n]
        self._n -= 1

    def __iter__(self) -> Iterator[datetime]:
        for micros in self._rows[: self._n, 0].tolist():
            yield _instant(micros)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Every row in time order: (UTC datetime, cash, market_value, equity, realized,
        unrealized, fees), as Python ints."""
        for row in self._rows[: self._n].tolist():
            yield (_instant(row[0]), *row[1:])

    def _row(self, i: int) -> tuple[Any, ...]:
        row = self._rows[i].tolist()
        return (_instant(row[0]), *row[1:])

    def _make_room(self) -> None:
        if self._n < len(self._rows):
            return
        grown = np.empty((max(1024, len(self._rows) * 3 // 2), WIDTH), dtype=np.int64)
        grown[: self._n] = self._rows[: self._n]
        self._rows = grown
