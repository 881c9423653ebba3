"""Small numpy helpers shared by the feeds and the caches."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def unique_ints(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """What ``np.unique`` gives for an integer array (sorted, each value once), without calling
    it: numpy 2's ``np.unique`` imports ``numpy.ma`` on its first call, 7 ms of the start-up of
    every backtest (which calls this a few times per run)."""
    out = np.sort(values)
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out
