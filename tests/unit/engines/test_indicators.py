"""IndicatorBank against plain-Python reference implementations over each symbol's active bars."""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from calc_kit import T0, frame
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.core.time import kst
from qts.engines.indicators import IndicatorBank, IndicatorSpec, IndicatorValues
from qts.feeds.bars import BarSeries, to_epoch
from qts.feeds.replay import FrameTable
from qts.model.frame import BarFrame, Universe

UNI = Universe(("A", "B", "C"))


@dataclass(frozen=True, slots=True)
class Bar:
    high: int
    low: int
    close: int


# --- reference implementations: (ready, value) over one symbol's active bars, oldest first ----


def ref_sma(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n:
        return False, math.nan
    return True, sum(b.close for b in bars[-n:]) / n


def ref_stdev(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n:
        return False, math.nan
    return True, statistics.pstdev([b.close for b in bars[-n:]])


def ref_highest(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n:
        return False, math.nan
    return True, float(max(b.high for b in bars[-n:]))


def ref_lowest(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n:
        return False, math.nan
    return True, float(min(b.low for b in bars[-n:]))


def true_ranges(bars: list[Bar]) -> list[int]:
    out = []
    for k, b in enumerate(bars):
        if k == 0:
            out.append(b.high - b.low)
        else:
            pc = bars[k - 1].close
            out.append(max(b.high, pc) - min(b.low, pc))
    return out


def ref_atr(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n:
        return False, math.nan
    return True, sum(true_ranges(bars)[-n:]) / n


def ref_rsi(bars: list[Bar], n: int) -> tuple[bool, float]:
    if len(bars) < n + 1:
        return False, math.nan
    closes = [b.close for b in bars[-(n + 1) :]]
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gains = sum(c for c in changes if c > 0)
    losses = sum(-c for c in changes if c < 0)
    if gains + losses == 0:
        return True, 50.0
    return True, 100.0 * gains / (gains + losses)


REFERENCE = {
    "sma": ref_sma,
    "stdev": ref_stdev,
    "highest": ref_highest,
    "lowest": ref_lowest,
    "atr": ref_atr,
    "rsi": ref_rsi,
}


# --- random market data ------------------------------------------------------------------------


@st.composite
def paths(draw: st.DrawFn) -> list[list[Bar | None]]:
    """Frames of 3 symbols: random integer walks, each bar present or not (random active mask)."""
    n_frames = draw(st.integers(1, 70))
    price = [draw(st.integers(50, 5_000)) for _ in range(3)]
    rows: list[list[Bar | None]] = []
    for _ in range(n_frames):
        row: list[Bar | None] = []
        for j in range(3):
            if not draw(st.booleans()) and draw(st.booleans()):  # inactive ~25 % of the time
                row.append(None)
                continue
            price[j] = max(1, price[j] + draw(st.integers(-40, 40)))
            up = draw(st.integers(0, 25))
            down = draw(st.integers(0, 25))
            row.append(Bar(price[j] + up, max(1, price[j] - down), price[j]))
        rows.append(row)
    return rows


def as_frame(row: list[Bar | None], k: int) -> BarFrame:
    prices = [None if b is None else (b.high, b.low, b.close) for b in row]
    return frame(UNI, prices, T0 + timedelta(minutes=k))


def run_bank(
    specs: list[IndicatorSpec], rows: list[list[Bar | None]]
) -> list[dict[str, IndicatorValues]]:
    bank = IndicatorBank(specs, len(UNI))
    out = []
    for k, row in enumerate(rows):
        f = as_frame(row, k)
        values = bank.update(f)
        # copy: what a later update does must not change what this one returned
        out.append(
            {
                key: IndicatorValues(
                    v.value.copy(),
                    v.prev.copy(),
                    v.ready.copy(),
                    v.prev_ready.copy(),
                    None if v.sum is None else v.sum.copy(),
                    None if v.prev_sum is None else v.prev_sum.copy(),
                )
                for key, v in values.items()
            }
        )
    return out


def close_enough(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-7)


@settings(max_examples=150, deadline=None)
@given(
    rows=paths(),
    windows=st.fixed_dictionaries({kind: st.integers(1, 30) for kind in REFERENCE}),
)
def test_every_indicator_matches_its_reference_over_active_bars(
    rows: list[list[Bar | None]], windows: dict[str, int]
) -> None:
    specs = [IndicatorSpec(kind, n) for kind, n in windows.items()]
    outputs = run_bank(specs, rows)
    history: list[list[Bar]] = [[], [], []]
    for k, row in enumerate(rows):
        for j, b in enumerate(row):
            if b is not None:
                history[j].append(b)
        for spec in specs:
            got = outputs[k][spec.key]
            ref = REFERENCE[spec.kind]
            for j in range(3):
                bars = history[j]
                ready, value = ref(bars, spec.window)
                prev_ready, prev = ref(bars[:-1], spec.window) if bars else (False, math.nan)
                where = f"{spec.key} frame {k} symbol {UNI.symbols[j]}"
                assert bool(got.ready[j]) is ready, where
                assert bool(got.prev_ready[j]) is prev_ready, where
                if ready:
                    assert close_enough(float(got.value[j]), value), (where, got.value[j], value)
                if prev_ready:
                    assert close_enough(float(got.prev[j]), prev), (where, got.prev[j], prev)
                if spec.kind == "sma" and bars:
                    # the exact integer sums behind the average (used for exact crossings)
                    assert got.sum is not None and got.prev_sum is not None
                    assert int(got.sum[j]) == sum(b.close for b in bars[-spec.window :]), where
                    if ready:
                        assert float(got.value[j]) == value, where  # exact, not approximate


@settings(max_examples=100, deadline=None)
@given(rows=paths(), window=st.integers(1, 30), kind=st.sampled_from(sorted(REFERENCE)))
def test_inactive_symbols_keep_every_field_unchanged(
    rows: list[list[Bar | None]], window: int, kind: str
) -> None:
    spec = IndicatorSpec(kind, window)
    outputs = run_bank([spec], rows)
    for k in range(1, len(rows)):
        before, now = outputs[k - 1][spec.key], outputs[k][spec.key]
        for j, b in enumerate(rows[k]):
            if b is not None:
                continue
            for name in ("value", "prev", "ready", "prev_ready", "sum", "prev_sum"):
                a, c = getattr(before, name), getattr(now, name)
                if a is None:
                    assert c is None
                    continue
                assert a[j] == c[j] or (np.isnan(a[j]) and np.isnan(c[j])), (k, j, name)


@pytest.mark.parametrize("kind", sorted(REFERENCE))
@pytest.mark.parametrize("window", [1, 2, 5])
def test_ready_flips_on_exactly_the_nth_active_bar(kind: str, window: int) -> None:
    """Symbol A trades every frame, B every other frame, C never: ready follows each one's count."""
    needed = window + 1 if kind == "rsi" else window
    bank = IndicatorBank([IndicatorSpec(kind, window)], 3)
    key = f"{kind}:{window}"
    seen = [0, 0, 0]
    for k in range(2 * needed + 2):
        row: list[int | None] = [100 + k, 100 + k if k % 2 == 0 else None, None]
        for j, p in enumerate(row):
            seen[j] += p is not None
        v = bank.update(frame(UNI, row))[key]
        assert [bool(r) for r in v.ready] == [s >= needed for s in seen], (k, seen)


def test_sma_by_hand_value_prev_and_sum() -> None:
    bank = IndicatorBank([IndicatorSpec("sma", 3)], 3)
    closes = [10, 20, 30, 40, 50]
    values = [bank.update(frame(UNI, [c, None, 7]))["sma:3"] for c in closes]
    assert [bool(v.ready[0]) for v in values] == [False, False, True, True, True]
    assert float(values[2].value[0]) == 20.0
    assert float(values[3].value[0]) == 30.0
    assert float(values[3].prev[0]) == 20.0
    assert float(values[4].value[0]) == 40.0
    assert values[4].sum is not None and int(values[4].sum[0]) == 120
    assert values[4].prev_sum is not None and int(values[4].prev_sum[0]) == 90
    assert not values[4].ready[1]  # B never traded


def test_rsi_by_hand() -> None:
    """Closes 100, 104, 101, 103: gains 4 + 2, losses 3 → 100 · 6 / 9."""
    bank = IndicatorBank([IndicatorSpec("rsi", 3)], 3)
    for c in (100, 104, 101):
        v = bank.update(frame(UNI, [c, 50, None]))["rsi:3"]
        assert not v.ready[0]
    v = bank.update(frame(UNI, [103, 50, None]))["rsi:3"]
    assert v.ready[0]
    assert float(v.value[0]) == pytest.approx(100 * 6 / 9)
    assert float(v.value[1]) == 50.0  # no movement at all
    v = bank.update(frame(UNI, [103, 50, None]))["rsi:3"]  # window 104, 101, 103, 103
    assert float(v.value[0]) == pytest.approx(100 * 2 / 5)
    assert float(v.prev[0]) == pytest.approx(100 * 6 / 9)


def test_atr_first_true_range_is_high_minus_low_then_uses_previous_close() -> None:
    bank = IndicatorBank([IndicatorSpec("atr", 2)], 3)
    bank.update(frame(UNI, [(110, 100, 105), None, None]))  # TR 10
    v = bank.update(frame(UNI, [(130, 120, 125), None, None]))  # TR max(130,105)-min(120,105)=25
    assert v["atr:2"].ready[0]
    assert float(v["atr:2"].value[0]) == 17.5
    v = bank.update(frame(UNI, [(124, 122, 123), None, None]))  # TR max(124,125)-min(122,125)=3
    assert float(v["atr:2"].value[0]) == 14.0


def test_highest_and_lowest_use_highs_and_lows_not_closes() -> None:
    bank = IndicatorBank([IndicatorSpec("highest", 2), IndicatorSpec("lowest", 2)], 3)
    bank.update(frame(UNI, [(120, 90, 100), None, None]))
    v = bank.update(frame(UNI, [(110, 95, 105), None, None]))
    assert float(v["highest:2"].value[0]) == 120.0
    assert float(v["lowest:2"].value[0]) == 90.0
    v = bank.update(frame(UNI, [(108, 99, 100), None, None]))  # the first bar has left
    assert float(v["highest:2"].value[0]) == 110.0
    assert float(v["lowest:2"].value[0]) == 95.0


def test_frames_from_a_frame_table_leave_a_missing_symbol_untouched() -> None:
    """Replayed series with a gap: the symbol without a bar is inactive and its SMA holds."""
    minutes = [kst(2026, 3, 4, 9, m) for m in range(4)]

    def series(symbol: str, closes: dict[int, int]) -> BarSeries:
        ts = np.array([to_epoch(minutes[m]) for m in closes], dtype=np.int64)
        c = np.array(list(closes.values()), dtype=np.int64)
        return BarSeries(symbol, ts, c, c, c, c, np.ones_like(c))

    table = FrameTable(
        [series("A", {0: 100, 1: 200, 2: 300, 3: 400}), series("B", {0: 1000, 1: 2000, 3: 4000})]
    )
    bank = IndicatorBank([IndicatorSpec("sma", 2)], len(table.universe))
    out = [bank.update(f)["sma:2"] for f in table.frames()]
    assert [float(v.value[1]) for v in out] == [500.0, 1500.0, 1500.0, 3000.0]
    assert float(out[2].value[0]) == 250.0
    assert float(out[3].prev[1]) == 1500.0  # the previous *active* bar's value


def test_spec_validation_and_deduplication() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        IndicatorSpec("ema", 3)
    with pytest.raises(ValueError, match="window must be >= 1"):
        IndicatorSpec("sma", 0)
    bank = IndicatorBank([IndicatorSpec("sma", 3), IndicatorSpec("sma", 3)], 3)
    assert bank.specs == [IndicatorSpec("sma", 3)]
    assert list(bank.update(frame(UNI, [1, 2, 3]))) == ["sma:3"]
