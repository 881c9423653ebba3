"""Vectorised KRX tick-grid helpers for whole price columns.

The scalar rules live in ``qts.market.krx.tick_size``; these mirror them on numpy arrays because a
per-row Python call would dominate the cost of loading or generating thousands of bars. Tests
check that both give identical answers.

A column may span several tick tables (a 2000–2024 history crosses 2003, 2010 and 2023): the
``dated_*`` helpers split rows by the table in force on each row's date (bar timestamps are POSIX
seconds; a table starts at 00:00 KST of its first day) and apply each table to its rows.
"""

from __future__ import annotations

from datetime import datetime, time
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from qts.core.time import KST
from qts.market.krx.tick_size import CURRENT, ETF_TABLE, TICK_HISTORY, TickTable, change_dates
from qts.model.instrument import Market

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Grid = TickTable | bool  # a table, or True/False for today's ETF/stock table


def _table(grid: Grid) -> TickTable:
    if isinstance(grid, TickTable):
        return grid
    return ETF_TABLE if grid else CURRENT


@lru_cache(maxsize=64)
def _arrays(table: TickTable) -> tuple[IntArray, IntArray]:
    lowers = np.array([lo for lo, _ in table.bands], dtype=np.int64)
    ticks = np.array([t for _, t in table.bands], dtype=np.int64)
    return lowers, ticks


def tick_sizes(prices: IntArray, grid: Grid = False) -> IntArray:
    """Tick of each price's band; prices must be positive (callers check that first)."""
    lowers, ticks = _arrays(_table(grid))
    band = np.searchsorted(lowers, prices, side="right") - 1
    return ticks[np.maximum(band, 0)]


def off_grid(prices: IntArray, grid: Grid = False) -> npt.NDArray[np.bool_]:
    """True where a positive price is not a multiple of its band's tick."""
    return (prices % tick_sizes(prices, grid)) != 0


def round_nearest_array(prices: FloatArray, grid: Grid = False) -> IntArray:
    """``round_nearest`` on every element: nearest grid price, ties up, never below the lowest.

    Rounding up never needs the scalar version's band-crossing retry: every band's lower bound is
    a multiple of the finer tick below it, so ``down + tick`` is either inside the band or exactly
    on the next band's lower bound, which is on that band's grid too.
    """
    table = _table(grid)
    x = np.asarray(prices, dtype=np.float64)
    p = np.where(x >= 1.0, np.maximum(np.floor(x + 0.5), 1.0), 1.0).astype(np.int64)
    tick = tick_sizes(p, table)
    rem = p % tick
    down = p - rem
    up = np.where(rem == 0, p, down + tick)
    nearest = np.where((up - x) <= (x - down), up, down)
    return np.where(down < table.lowest, up, nearest).astype(np.int64)


@lru_cache(maxsize=1)
def _change_epochs() -> IntArray:
    """POSIX seconds of 00:00 KST of each tick-table change."""
    return np.array(
        [int(datetime.combine(d, time.min, tzinfo=KST).timestamp()) for d in change_dates()],
        dtype=np.int64,
    )


Eras = list[tuple[npt.NDArray[np.bool_], TickTable]]
"""What :func:`eras` returns: a caller checking several columns of one file computes it once."""


def eras(ts: IntArray, market: Market, etf: bool) -> Eras:
    """(rows, table) for each tick table in force on some row's timestamp."""
    if etf:
        return [(np.ones(ts.shape, dtype=np.bool_), ETF_TABLE)]
    era = np.searchsorted(_change_epochs(), ts, side="right")  # k: TICK_HISTORY[k] in force
    present = np.flatnonzero(np.bincount(era)).tolist()  # the eras some row is in, in order
    return [(era == k, TICK_HISTORY[k].tables[market]) for k in present]


def dated_tick_sizes(
    prices: IntArray, ts: IntArray, market: Market, etf: bool, parts: Eras | None = None
) -> IntArray:
    """Tick of each price by the table in force at its row's timestamp (``parts``: the
    :func:`eras` of ``ts``, when the caller has them)."""
    if parts is None:
        parts = eras(ts, market, etf)
    if len(parts) == 1:
        return tick_sizes(prices, parts[0][1])
    out = np.empty(prices.shape, dtype=np.int64)
    for rows, table in parts:
        out[rows] = tick_sizes(prices[rows], table)
    return out


def dated_off_grid(
    prices: IntArray, ts: IntArray, market: Market, etf: bool, parts: Eras | None = None
) -> npt.NDArray[np.bool_]:
    """``off_grid`` with each row's own date's table."""
    return (prices % dated_tick_sizes(prices, ts, market, etf, parts)) != 0


def dated_round_nearest(prices: FloatArray, ts: IntArray, market: Market, etf: bool) -> IntArray:
    """``round_nearest_array`` with each row's own date's table."""
    parts = eras(ts, market, etf)
    if len(parts) == 1:
        return round_nearest_array(prices, parts[0][1])
    x = np.asarray(prices, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.int64)
    for rows, table in parts:
        out[rows] = round_nearest_array(x[rows], table)
    return out
