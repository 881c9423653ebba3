"""Vectorised KRX tick-grid helpers for whole price columns.

The scalar rules live in ``qts.market.krx.tick_size``; these mirror them on numpy arrays because a
per-row Python call would dominate the cost of loading or generating thousands of bars. Tests
check that both give identical answers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from qts.market.krx.tick_size import ETF_TICK, STOCK_BANDS

_LOWERS = np.array([lo for lo, _ in STOCK_BANDS], dtype=np.int64)
_TICKS = np.array([t for _, t in STOCK_BANDS], dtype=np.int64)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def tick_sizes(prices: IntArray, etf: bool = False) -> IntArray:
    """Tick of each price's band; prices must be positive (callers check that first)."""
    if etf:
        return np.full(prices.shape, ETF_TICK, dtype=np.int64)
    band = np.searchsorted(_LOWERS, prices, side="right") - 1
    return _TICKS[np.maximum(band, 0)]


def off_grid(prices: IntArray, etf: bool = False) -> npt.NDArray[np.bool_]:
    """True where a positive price is not a multiple of its band's tick."""
    return (prices % tick_sizes(prices, etf)) != 0


def round_nearest_array(prices: FloatArray, etf: bool = False) -> IntArray:
    """``round_nearest`` on every element: nearest grid price, ties up, never below 1.

    Rounding up never needs the scalar version's band-crossing retry: every band's lower bound is
    a multiple of the finer tick below it, so ``down + tick`` is either inside the band or exactly
    on the next band's lower bound, which is on that band's grid too.
    """
    x = np.asarray(prices, dtype=np.float64)
    p = np.where(x >= 1.0, np.maximum(np.floor(x + 0.5), 1.0), 1.0).astype(np.int64)
    tick = tick_sizes(p, etf)
    rem = p % tick
    down = p - rem
    up = np.where(rem == 0, p, down + tick)
    return np.where((up - x) <= (x - down), up, down).astype(np.int64)
