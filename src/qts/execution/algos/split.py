"""SINGLE, VWAP, TWAP and ICEBERG, and the rule that chooses among them.

The spec names TWAP and ICEBERG and the selection rule without defining them; ours (ADR 0008):

- ``qty <= min_split_qty`` → SINGLE.
- the order is larger than what the opposite side shows at its best level → ICEBERG, showing
  ``display_fraction`` of that level each time (at least 1 share);
- a volume profile is configured → VWAP over the buckets from now on (renormalised, the last
  bucket takes the remainder — the spec appendix's version, which satisfies its own oracle);
- otherwise → TWAP: ``twap_slices`` equal slices, ``twap_interval`` apart, the first
  ``qty % n`` slices one share larger.

GR060: no algorithm returns more than ``max_slices`` slices (TWAP uses fewer slices, ICEBERG
shows more per slice, VWAP merges the tail buckets into the last kept one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from qts.execution.algos.slices import SliceSpec, SplitKind

DEFAULT_MAX_SLICES = 20


@dataclass(frozen=True, slots=True)
class VolumeBucket:
    """Share of the day's volume traded in the bucket starting at ``start`` (KST wall time)."""

    start: time
    volume_pct: float


@dataclass(frozen=True, slots=True)
class SplitPolicy:
    min_split_qty: int = 100
    max_slices: int = DEFAULT_MAX_SLICES
    twap_slices: int = 5
    twap_interval: timedelta = timedelta(seconds=2)
    display_fraction: float = 0.5
    profile: tuple[VolumeBucket, ...] = ()
    max_wait_ms: int = 5_000


def single(qty: int, now: datetime) -> list[SliceSpec]:
    _check(qty)
    return [SliceSpec(1, qty, now)]


def vwap(
    qty: int,
    now: datetime,
    profile: Sequence[VolumeBucket],
    max_slices: int = DEFAULT_MAX_SLICES,
    max_wait_ms: int = 30_000,
) -> list[SliceSpec]:
    """Slices over the profile's buckets from ``now`` on, proportional to their volume share.

    Oracle: 1,000 shares at 10:00 over 15/12/10/8/8/10/12/15/10 % ⇒ 150/120/…/100."""
    _check(qty)
    clock = now.timetz().replace(tzinfo=None)
    buckets = [b for b in profile if b.start >= clock and b.volume_pct > 0]
    if not buckets:
        return single(qty, now)
    buckets = buckets[: max(1, max_slices)]
    total_pct = sum(b.volume_pct for b in buckets)
    out: list[SliceSpec] = []
    allocated = 0
    for k, b in enumerate(buckets):
        last = k == len(buckets) - 1
        part = qty - allocated if last else int(qty * b.volume_pct / total_pct)
        allocated += part
        if part > 0:
            when = datetime.combine(now.date(), b.start, tzinfo=now.tzinfo)
            out.append(SliceSpec(len(out) + 1, part, when, max_wait_ms=max_wait_ms))
    return out


def twap(
    qty: int,
    now: datetime,
    slices: int,
    interval: timedelta,
    max_slices: int = DEFAULT_MAX_SLICES,
    max_wait_ms: int = 5_000,
) -> list[SliceSpec]:
    """``n`` near-equal slices ``interval`` apart (never more slices than shares)."""
    _check(qty)
    n = max(1, min(slices, max_slices, qty))
    base, extra = divmod(qty, n)
    return [
        SliceSpec(
            i + 1, base + (1 if i < extra else 0), now + interval * i, max_wait_ms=max_wait_ms
        )
        for i in range(n)
    ]


def iceberg(
    qty: int,
    now: datetime,
    display: int,
    max_slices: int = DEFAULT_MAX_SLICES,
    max_wait_ms: int = 5_000,
) -> list[SliceSpec]:
    """Show ``display`` shares at a time; each next slice waits for the previous to fill."""
    _check(qty)
    cap = max(1, max_slices)
    show = max(1, display, -(-qty // cap))
    out: list[SliceSpec] = []
    left = qty
    while left > 0:
        part = min(show, left)
        out.append(
            SliceSpec(len(out) + 1, part, now, after_previous=bool(out), max_wait_ms=max_wait_ms)
        )
        left -= part
    return out


def select_split(qty: int, opposite_best_qty: int | None, policy: SplitPolicy) -> SplitKind:
    if qty <= policy.min_split_qty:
        return SplitKind.SINGLE
    if opposite_best_qty is not None and 0 < opposite_best_qty < qty:
        return SplitKind.ICEBERG
    if policy.profile:
        return SplitKind.VWAP
    return SplitKind.TWAP


def split_order(
    qty: int,
    now: datetime,
    policy: SplitPolicy,
    opposite_best_qty: int | None = None,
    kind: SplitKind | None = None,
) -> tuple[SplitKind, list[SliceSpec]]:
    """Choose (unless ``kind`` is given) and run the algorithm."""
    kind = kind or select_split(qty, opposite_best_qty, policy)
    if kind is SplitKind.SINGLE:
        return kind, single(qty, now)
    if kind is SplitKind.VWAP:
        return kind, vwap(qty, now, policy.profile, policy.max_slices, policy.max_wait_ms)
    if kind is SplitKind.TWAP:
        return kind, twap(
            qty,
            now,
            policy.twap_slices,
            policy.twap_interval,
            policy.max_slices,
            policy.max_wait_ms,
        )
    shown = opposite_best_qty or qty
    display = max(1, int(shown * policy.display_fraction))
    return kind, iceberg(qty, now, display, policy.max_slices, policy.max_wait_ms)


def _check(qty: int) -> None:
    if qty <= 0:
        raise ValueError(f"split: order qty must be positive, got {qty}")
