"""§12.6 #45 VWAP oracle, and slices of every algorithm summing to the order (property)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from qts.core.time import KST
from qts.execution.algos import (
    SplitKind,
    SplitPolicy,
    VolumeBucket,
    iceberg,
    select_split,
    split_order,
    twap,
    vwap,
)

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=KST)
PROFILE = tuple(
    VolumeBucket(time(h, m), pct)
    for (h, m), pct in zip(
        [(10, 0), (10, 30), (11, 0), (11, 30), (13, 0), (13, 30), (14, 0), (14, 30), (15, 0)],
        [15, 12, 10, 8, 8, 10, 12, 15, 10],
        strict=True,
    )
)


def test_vwap_oracle_1000_shares() -> None:
    slices = vwap(1_000, NOW, PROFILE)
    assert [s.qty for s in slices] == [150, 120, 100, 80, 80, 100, 120, 150, 100]
    assert [s.sequence for s in slices] == list(range(1, 10))
    assert slices[0].scheduled_time == NOW
    assert slices[-1].scheduled_time == datetime(2026, 1, 5, 15, 0, tzinfo=KST)


def test_vwap_skips_past_buckets_and_renormalises() -> None:
    later = NOW.replace(hour=14, minute=10)
    slices = vwap(100, later, PROFILE)
    assert [s.qty for s in slices] == [60, 40]


def test_twap_equal_slices_interval_apart() -> None:
    slices = twap(11, NOW, 4, timedelta(seconds=2))
    assert [s.qty for s in slices] == [3, 3, 3, 2]
    assert slices[3].scheduled_time - slices[0].scheduled_time == timedelta(seconds=6)


def test_iceberg_shows_the_display_and_chains() -> None:
    slices = iceberg(25, NOW, 10)
    assert [s.qty for s in slices] == [10, 10, 5]
    assert [s.after_previous for s in slices] == [False, True, True]


def test_gr060_caps_the_slice_count() -> None:
    assert len(iceberg(1_000, NOW, 1, max_slices=20)) == 20
    assert len(twap(1_000, NOW, 100, timedelta(seconds=1), max_slices=20)) == 20
    assert len(vwap(1_000, NOW, PROFILE, max_slices=3)) == 3


def test_selection_rule() -> None:
    p = SplitPolicy(min_split_qty=100)
    assert select_split(100, 10, p) is SplitKind.SINGLE
    assert select_split(500, 200, p) is SplitKind.ICEBERG
    assert select_split(500, 1_000, p) is SplitKind.TWAP
    assert select_split(500, None, SplitPolicy(profile=PROFILE)) is SplitKind.VWAP


@given(
    qty=st.integers(1, 200_000),
    minute=st.integers(0, 6 * 60 + 29),
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=13),
    slices=st.integers(1, 50),
    interval=st.integers(0, 10_000),
    display=st.integers(1, 50_000),
    max_slices=st.integers(1, 40),
)
def test_slices_always_sum_to_the_order(
    qty: int,
    minute: int,
    weights: list[int],
    slices: int,
    interval: int,
    display: int,
    max_slices: int,
) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=KST) + timedelta(minutes=minute)
    profile = [
        VolumeBucket((datetime(2026, 1, 5, 9, 0) + timedelta(minutes=30 * i)).time(), float(w))
        for i, w in enumerate(weights)
    ]
    outs = [
        vwap(qty, now, profile, max_slices),
        twap(qty, now, slices, timedelta(milliseconds=interval), max_slices),
        iceberg(qty, now, display, max_slices),
    ]
    for out in outs:
        assert sum(s.qty for s in out) == qty
        assert all(s.qty > 0 for s in out)
        assert len(out) <= max(max_slices, 1)
        assert [s.sequence for s in out] == list(range(1, len(out) + 1))
    for kind in SplitKind:
        _, out = split_order(qty, now, SplitPolicy(max_slices=max_slices), display, kind)
        assert sum(s.qty for s in out) == qty
