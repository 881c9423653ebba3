"""The latency histogram: bucket bounds, percentiles, merge."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.events.metrics import N_BUCKETS, LatencyHistogram, bucket_index, bucket_upper_us


def test_small_values_are_exact() -> None:
    for us in range(16):
        assert bucket_index(us) == us
        assert bucket_upper_us(us) == us


def test_negative_is_clamped_to_zero() -> None:
    assert bucket_index(-5) == 0
    h = LatencyHistogram()
    h.record(-1_000)
    assert h.counts[0] == 1 and h.max_ns == 0


@given(st.integers(min_value=0, max_value=2**43))
def test_bucket_holds_value_within_one_eighth(us: int) -> None:
    index = bucket_index(us)
    upper = bucket_upper_us(index)
    lower = bucket_upper_us(index - 1) + 1 if index > 0 else 0
    assert lower <= us <= upper
    assert upper - lower <= max(0, us // 8)  # ≤ 12.5 % wide


def test_buckets_are_contiguous_and_increasing() -> None:
    uppers = [bucket_upper_us(i) for i in range(N_BUCKETS)]
    assert all(b > a for a, b in itertools.pairwise(uppers))
    for i in range(1, N_BUCKETS):
        assert bucket_index(uppers[i - 1] + 1) == i


def test_huge_values_land_in_the_last_bucket() -> None:
    h = LatencyHistogram()
    h.record(10**18)
    assert h.counts[N_BUCKETS - 1] == 1
    assert bucket_index(2**60) == N_BUCKETS - 1


def test_percentiles_and_max() -> None:
    h = LatencyHistogram(keep_samples=True)
    for us in range(1, 101):  # 1..100 µs
        h.record(us * 1000 + 500)
    assert h.count == 100
    assert 50 <= h.percentile_us(0.5) <= 50 * 1.125  # upper bound of 50's bucket (48..51)
    assert h.percentile_us(1.0) == 100.5  # capped at the exact maximum
    p99 = h.percentile_us(0.99)
    assert 99 <= p99 <= 99 * 1.125 + 1
    assert h.max_ns == 100_500
    assert h.samples is not None and len(h.samples) == 100
    snap = h.snapshot()
    assert snap["count"] == 100 and snap["p50_ms"] == 0.051 and snap["max_ms"] == 0.1005


def test_percentile_reports_upper_bound_not_below_the_value() -> None:
    h = LatencyHistogram()
    h.record(1_000_000)  # 1 ms
    h.record(100_000)
    assert h.percentile_us(0.5) >= 100
    assert h.percentile_us(0.99) == 1000.0


def test_empty_and_invalid() -> None:
    h = LatencyHistogram()
    assert h.percentile_us(0.99) == 0.0
    assert h.samples is None
    for q in (0.0, 1.5):
        with pytest.raises(ValueError, match="quantile"):
            h.percentile_us(q)


def test_merge() -> None:
    a, b = LatencyHistogram(keep_samples=True), LatencyHistogram(keep_samples=True)
    a.record(5_000)
    b.record(7_000)
    b.record(900_000)
    a.merge(b)
    assert a.count == 3 and a.max_ns == 900_000
    assert a.samples == [5_000, 7_000, 900_000]
    c = LatencyHistogram()
    c.merge(a)
    assert c.count == 3 and c.samples is None
