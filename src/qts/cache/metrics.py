"""Hit, miss and latency figures per key family (spec §7.6).

A read is a *hit* (a fresh value from the cache), a *miss* (absent or expired), *stale* (present
but older than its TTL by its own stamp: never served) or *bypass* (the cache was not asked: the
breaker is open or the key's last write failed). Every read that is not a hit went to the source.
Latency is kept per family for cache round trips and for source (fallback) reads, in
milliseconds, over the last ``max_samples`` reads.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qts.cache.keys import Family

HIT_RATE_TARGETS = {Family.POSITION: 0.95, Family.PRICE: 0.99, Family.RISK: 0.90}
HIT_RATE_ALERT = 0.85


@dataclass(slots=True)
class FamilyStats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    bypassed: int = 0
    writes: int = 0
    errors: int = 0
    cache_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    source_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    @property
    def reads(self) -> int:
        return self.hits + self.misses + self.stale + self.bypassed

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.reads if self.reads else None


def percentile(samples: deque[float] | list[float], q: float) -> float | None:
    return float(np.percentile(np.fromiter(samples, float), q)) if samples else None


class CacheMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.families: dict[Family, FamilyStats] = {f: FamilyStats() for f in Family}
        self.breaker_opened = 0
        self.breaker_closed = 0
        self.hits_after_recovery = 0  # hits since the breaker last closed: the cache is back

    def read(self, family: Family, outcome: str, cache_ms: float | None = None, n: int = 1) -> None:
        """``n`` reads of one round trip with the same ``outcome`` (each its latency sample)."""
        with self._lock:
            s = self.families[family]
            if outcome == "hit":
                s.hits += n
                if self.breaker_closed:
                    self.hits_after_recovery += n
            elif outcome == "miss":
                s.misses += n
            elif outcome == "stale":
                s.stale += n
            else:
                s.bypassed += n
            if cache_ms is not None:
                if n == 1:
                    s.cache_ms.append(cache_ms)
                else:
                    s.cache_ms.extend([cache_ms] * n)

    def source(self, family: Family, ms: float) -> None:
        with self._lock:
            self.families[family].source_ms.append(ms)

    def wrote(self, family: Family, n: int = 1) -> None:
        with self._lock:
            self.families[family].writes += n

    def error(self, family: Family) -> None:
        with self._lock:
            self.families[family].errors += 1

    def hit_rate(self, family: Family) -> float | None:
        with self._lock:
            return self.families[family].hit_rate

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able summary: per family counts, hit rate, cache and source latency p50/p99."""
        out: dict[str, Any] = {}
        with self._lock:
            for fam, s in self.families.items():
                if not (s.reads or s.writes or s.errors):
                    continue
                rate = s.hit_rate
                out[fam.value] = {
                    "reads": s.reads,
                    "hits": s.hits,
                    "misses": s.misses,
                    "stale": s.stale,
                    "bypassed": s.bypassed,
                    "writes": s.writes,
                    "errors": s.errors,
                    "hit_rate": None if rate is None else round(rate, 5),
                    "cache_p50_ms": _r(percentile(s.cache_ms, 50)),
                    "cache_p99_ms": _r(percentile(s.cache_ms, 99)),
                    "source_p99_ms": _r(percentile(s.source_ms, 99)),
                }
            out["breaker_opened"] = self.breaker_opened
            out["breaker_closed"] = self.breaker_closed
            out["hits_after_recovery"] = self.hits_after_recovery
        return out

    def alerts(self) -> list[str]:
        """Families below the 85 % alert level (with at least 100 reads)."""
        out = []
        with self._lock:
            for fam, s in self.families.items():
                rate = s.hit_rate
                if rate is not None and s.reads >= 100 and rate < HIT_RATE_ALERT:
                    out.append(f"{fam.value}: hit rate {rate:.1%} < {HIT_RATE_ALERT:.0%}")
        return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
