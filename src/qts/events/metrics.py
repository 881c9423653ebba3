"""Per-queue counters and the enqueue→handler-start latency histogram.

Each queue has one consuming thread, which alone records latencies, so recording takes no lock:
it is a few integer operations on a fixed bucket array (HDR-like: exact below 16 µs, then eight
sub-buckets per power of two, so a percentile is off by at most 12.5 %). Percentiles report the
bucket's upper bound (never optimistic), capped at the exact maximum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

_SUB_BITS = 3
_LINEAR = 2 << _SUB_BITS  # values below 16 µs have a bucket each
_MAX_EXP = 40
N_BUCKETS = ((_MAX_EXP + 1) << _SUB_BITS) + (1 << _SUB_BITS)


def bucket_index(us: int) -> int:
    """Bucket of a latency in whole microseconds."""
    if us < _LINEAR:
        return max(us, 0)
    shift = us.bit_length() - (_SUB_BITS + 1)
    return min((shift << _SUB_BITS) + (us >> shift), N_BUCKETS - 1)


def bucket_upper_us(index: int) -> int:
    """Highest microsecond value that falls in a bucket."""
    if index < _LINEAR:
        return index
    shift = (index >> _SUB_BITS) - 1
    low = ((index & ((1 << _SUB_BITS) - 1)) | (1 << _SUB_BITS)) << shift
    return low + (1 << shift) - 1


class LatencyHistogram:
    """Fixed log buckets in µs plus the exact maximum; optionally every sample (ns) too, for
    benchmarks."""

    __slots__ = ("counts", "max_ns", "samples")

    def __init__(self, keep_samples: bool = False) -> None:
        self.counts = [0] * N_BUCKETS
        self.max_ns = 0
        self.samples: list[int] | None = [] if keep_samples else None

    def record(self, ns: int) -> None:
        us = ns // 1000
        if us < _LINEAR:
            index = us if us > 0 else 0
        else:
            shift = us.bit_length() - (_SUB_BITS + 1)
            index = (shift << _SUB_BITS) + (us >> shift)
            if index >= N_BUCKETS:
                index = N_BUCKETS - 1
        self.counts[index] += 1
        if ns > self.max_ns:
            self.max_ns = ns
        if self.samples is not None:
            self.samples.append(ns)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def percentile_us(self, q: float) -> float:
        """The q-quantile (0 < q ≤ 1) in µs: the upper bound of its bucket, at most the maximum."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        counts = list(self.counts)
        total = sum(counts)
        if total == 0:
            return 0.0
        rank = max(1, math.ceil(q * total - 1e-9))  # the tolerance absorbs float drift
        seen = 0
        for index, n in enumerate(counts):
            seen += n
            if seen >= rank:
                return float(min(bucket_upper_us(index), self.max_ns / 1000.0))
        return self.max_ns / 1000.0  # pragma: no cover - counts grew while we summed

    def merge(self, other: LatencyHistogram) -> None:
        for index, n in enumerate(other.counts):
            if n:
                self.counts[index] += n
        self.max_ns = max(self.max_ns, other.max_ns)
        if self.samples is not None and other.samples is not None:
            self.samples.extend(other.samples)

    def snapshot(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "p50_ms": round(self.percentile_us(0.50) / 1000.0, 4),
            "p95_ms": round(self.percentile_us(0.95) / 1000.0, 4),
            "p99_ms": round(self.percentile_us(0.99) / 1000.0, 4),
            "max_ms": round(self.max_ns / 1_000_000.0, 4),
        }


class QueueMetrics:
    """Counters of one queue. Invariant (when no put or take is in progress):
    ``enqueued == dequeued + depth + dropped + collapsed + discarded``; sampled-out events were
    never enqueued."""

    __slots__ = (
        "blocked_puts",
        "collapsed",
        "dead_lettered",
        "dequeued",
        "discarded",
        "dropped",
        "enqueued",
        "handler_errors",
        "latency",
        "max_depth",
        "sampled_out",
    )

    COUNTERS: tuple[str, ...] = (
        "enqueued",
        "dequeued",
        "dropped",
        "collapsed",
        "sampled_out",
        "blocked_puts",
        "discarded",
        "handler_errors",
        "dead_lettered",
    )

    def __init__(self, keep_samples: bool = False) -> None:
        self.enqueued = 0  # accepted by the queue (including events that replaced a queued one)
        self.dequeued = 0  # handed to a handler
        self.dropped = 0  # accepted, then lost to overflow (DROP_OLDEST evictions, SAMPLE full)
        self.collapsed = 0  # replaced in place by a newer event with the same collapse key
        self.sampled_out = 0  # refused by sampling; never enqueued
        self.blocked_puts = 0  # puts that found a BLOCK queue full
        self.discarded = 0  # cleared by stop(drain=False)
        self.handler_errors = 0  # handler calls that raised
        self.dead_lettered = 0  # P0 events whose handler failed after every retry
        self.max_depth = 0
        self.latency = LatencyHistogram(keep_samples)


def merge_histograms(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    items = list(histograms)
    merged = LatencyHistogram(keep_samples=all(h.samples is not None for h in items))
    for histogram in items:
        merged.merge(histogram)
    return merged


def class_snapshot(
    metrics: Sequence[QueueMetrics], depths: Sequence[int], lane_capacity: int
) -> dict[str, Any]:
    """Counters of one class summed over its lanes. ``max_depth`` and ``fill_ratio`` are those of
    the fullest lane: a lane overflows on its own."""
    snap: dict[str, Any] = {
        name: sum(getattr(m, name) for m in metrics) for name in QueueMetrics.COUNTERS
    }
    snap["depth"] = sum(depths)
    snap["max_depth"] = max(m.max_depth for m in metrics)
    snap["fill_ratio"] = round(max(depths) / lane_capacity, 4)
    snap["latency"] = merge_histograms(m.latency for m in metrics).snapshot()
    return snap
