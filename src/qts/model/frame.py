"""A cross-section of bars: every symbol of the universe over one interval, as columns.

Hot loops (backtests over hundreds of symbols) work on frames, not on per-symbol objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from qts.model.bar import Bar

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Universe:
    """The symbols a run trades, in a fixed order; column i of every frame is ``symbols[i]``."""

    __slots__ = ("_index", "symbols")

    def __init__(self, symbols: tuple[str, ...] | list[str]) -> None:
        self.symbols = tuple(symbols)
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("universe: duplicate symbols")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def index(self, symbol: str) -> int:
        return self._index[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Universe) and other.symbols == self.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __len__(self) -> int:
        return len(self.symbols)


@dataclass(frozen=True, slots=True)
class BarFrame:
    """Bars of one interval [start, end). ``active[i]`` is False where symbol i has no bar."""

    universe: Universe
    start: datetime
    end: datetime
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray
    active: BoolArray

    def bar(self, symbol: str) -> Bar | None:
        i = self.universe.index(symbol)
        if not self.active[i]:
            return None
        return Bar(
            symbol,
            self.start,
            int(self.open[i]),
            int(self.high[i]),
            int(self.low[i]),
            int(self.close[i]),
            int(self.volume[i]),
        )
