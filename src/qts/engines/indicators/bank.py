"""Incremental indicators, updated once per frame for every symbol at once.

Each indicator keeps its own rolling state, so a cycle costs a few numpy operations whatever the
lookback. Symbols without a bar in a frame keep their state unchanged. Simple moving averages are
kept as exact integer sums: prices are integer won, so crossings are decided without rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qts.model.frame import BarFrame

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

KINDS = ("sma", "rsi", "stdev", "highest", "lowest", "atr")


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """``kind`` over ``window`` bars; the key (e.g. ``sma:10``) names it in the calc contract."""

    kind: str
    window: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"indicator {self.kind!r}: unknown kind (known: {', '.join(KINDS)})")
        if self.window < 1:
            raise ValueError(f"indicator {self.kind}: window must be >= 1, got {self.window}")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.window}"


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """Current and previous values; ``ready`` is False until the window is full."""

    value: FloatArray
    prev: FloatArray
    ready: BoolArray
    prev_ready: BoolArray
    sum: IntArray | None = None
    prev_sum: IntArray | None = None


class _Window:
    """A per-symbol ring buffer of the last ``n`` closes (or any int series)."""

    def __init__(self, n: int, width: int) -> None:
        self.n = n
        self.buf = np.zeros((n, width), dtype=np.int64)
        self.count = np.zeros(width, dtype=np.int64)
        self.cols = np.arange(width)

    def push(self, values: IntArray, mask: BoolArray) -> IntArray:
        """Insert values where mask; returns the values that fell out (0 where none)."""
        slot = self.count % self.n
        if mask.all():
            old = self.buf[slot, self.cols].copy()
            self.buf[slot, self.cols] = values
        else:
            old = np.zeros_like(values)
            cols = self.cols[mask]
            old[mask] = self.buf[slot[mask], cols]
            self.buf[slot[mask], cols] = values[mask]
        self.count += mask
        return old

    @property
    def full(self) -> BoolArray:
        return self.count >= self.n


class _Sma:
    def __init__(self, n: int, width: int) -> None:
        self.win = _Window(n, width)
        self.sum = np.zeros(width, dtype=np.int64)
        self.prev_sum = self.sum.copy()
        self.ready = np.zeros(width, dtype=np.bool_)
        self.prev_ready = self.ready.copy()

    def update(self, frame: BarFrame) -> IndicatorValues:
        mask = frame.active
        self.prev_sum = np.where(mask, self.sum, self.prev_sum)
        self.prev_ready = np.where(mask, self.ready, self.prev_ready)
        old = self.win.push(frame.close, mask)
        self.sum = self.sum + np.where(mask, frame.close - old, 0)
        self.ready = self.win.full
        n = self.win.n
        return IndicatorValues(
            self.sum / n, self.prev_sum / n, self.ready, self.prev_ready, self.sum, self.prev_sum
        )


class _Rolling:
    """Indicators computed from the whole window each frame (window × symbols, small)."""

    def __init__(self, kind: str, n: int, width: int) -> None:
        self.kind = kind
        self.n = n
        extra = 1 if kind == "rsi" else 0  # RSI needs n changes, so n + 1 closes
        self.win = _Window(n + extra, width)
        self.highs = _Window(n, width) if kind in ("highest", "atr") else None
        self.lows = _Window(n, width) if kind in ("lowest", "atr") else None
        self.prev_close = np.zeros(width, dtype=np.int64)
        self.value = np.full(width, np.nan)
        self.prev = self.value.copy()
        self.ready = np.zeros(width, dtype=np.bool_)
        self.prev_ready = self.ready.copy()

    def update(self, frame: BarFrame) -> IndicatorValues:
        mask = frame.active
        self.prev = np.where(mask, self.value, self.prev)
        self.prev_ready = np.where(mask, self.ready, self.prev_ready)
        if self.kind == "atr":
            pc = np.where(self.prev_close > 0, self.prev_close, frame.close)
            tr = np.maximum(frame.high, pc) - np.minimum(frame.low, pc)
            self.win.push(tr, mask)
            self.prev_close = np.where(mask, frame.close, self.prev_close)
        elif self.kind == "highest":
            assert self.highs is not None
            self.highs.push(frame.high, mask)
        elif self.kind == "lowest":
            assert self.lows is not None
            self.lows.push(frame.low, mask)
        else:
            self.win.push(frame.close, mask)
        value = self._compute()
        self.value = np.where(mask, value, self.value)
        self.ready = self._full()
        return IndicatorValues(self.value, self.prev, self.ready, self.prev_ready)

    def _full(self) -> BoolArray:
        if self.kind == "highest":
            assert self.highs is not None
            return self.highs.full
        if self.kind == "lowest":
            assert self.lows is not None
            return self.lows.full
        return self.win.full

    def _compute(self) -> FloatArray:
        if self.kind == "highest":
            assert self.highs is not None
            return self.highs.buf.max(axis=0).astype(np.float64)
        if self.kind == "lowest":
            assert self.lows is not None
            return self.lows.buf.min(axis=0).astype(np.float64)
        buf = self.win.buf.astype(np.float64)
        if self.kind == "stdev":
            return buf.std(axis=0)
        if self.kind == "atr":
            return buf.mean(axis=0)
        # rsi: order the ring buffer oldest → newest, then average gains and losses (Cutler's RSI)
        n1 = self.win.n
        start = self.win.count % n1
        order = (start[None, :] + np.arange(n1)[:, None]) % n1
        ordered = np.take_along_axis(buf, order, axis=0)
        diff = np.diff(ordered, axis=0)
        gain = np.clip(diff, 0, None).sum(axis=0)
        loss = np.clip(-diff, 0, None).sum(axis=0)
        total = gain + loss
        with np.errstate(invalid="ignore", divide="ignore"):
            rsi = np.where(total > 0, 100.0 * gain / np.where(total > 0, total, 1), 50.0)
        return np.asarray(rsi, dtype=np.float64)


class IndicatorBank:
    """Holds the state of every requested indicator and updates them frame by frame."""

    def __init__(self, specs: list[IndicatorSpec], width: int) -> None:
        self.specs = list(dict.fromkeys(specs))
        self._state: dict[str, _Sma | _Rolling] = {
            s.key: (_Sma(s.window, width) if s.kind == "sma" else _Rolling(s.kind, s.window, width))
            for s in self.specs
        }

    def update(self, frame: BarFrame) -> dict[str, IndicatorValues]:
        return {key: state.update(frame) for key, state in self._state.items()}
