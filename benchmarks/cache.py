"""Cache read latency and hit rate: the in-process cache against Redis, and both against the
store they stand in front of, in one run (spec §7, §12.4; issue NG-4).

1. ``get``: one price read through the cache manager (cache-aside, freshness check, metrics) on
   the in-process cache and on Redis (the machine's, 127.0.0.1:6379, under a prefix of its own,
   deleted afterwards); the bare Redis round trip alongside.
2. ``precheck``: what a pre-trade check reads — price, position and risk state, three reads —
   1,000 iterations on Redis (target p99 < 5 ms).
3. ``hit rate``: a paced workload on Redis for ``--seconds``: prices pushed every 20 ms (50
   ticks/s per symbol, the spec's "≥ 10/s" for a 100 ms TTL), positions refreshed every 500 ms
   (fills and bars), risk every second; a reader asks for a random symbol's price and position
   every 0–4 ms.
4. ``fallback``: the breaker open, reads go to the store: positions from a durable SQLite store
   (20 positions), prices from the feed's board. The baseline: the same store read without any
   cache, and the cached read it is compared to.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from qts.cache import CachedPosition, CacheManager, Family, HotCache, PriceQuote, RiskState
from qts.cache.memory import MemoryCache
from qts.cache.port import CacheBackend
from qts.cache.redis_cache import RedisCache
from qts.core.clock import WallClock
from qts.core.time import KST
from qts.data import SqliteStore, TradingStore
from qts.data.ports import RunMeta
from qts.model import Position

URL = os.environ.get("QTS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SYMBOLS = [f"{i:06d}" for i in range(1, 21)]


def stats(samples: list[float]) -> tuple[float, float, float]:
    a = np.asarray(samples)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def line(name: str, s: list[float]) -> tuple[float, float, float]:
    p50, p99, mx = stats(s)
    rate = len(s) / (sum(s) / 1000.0) if s else 0.0
    print(f"{name:<28} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  max {mx:7.3f} ms  {rate:>9,.0f}/s")
    return p50, p99, mx


def make_store(path: Path) -> TradingStore:
    store = SqliteStore(str(path), durable=True)
    now = datetime.now(KST)
    store.init_run(RunMeta("bench-cache", "paper", 100_000_000, now))
    store.save_positions(
        Position(s, qty=10 + i, cost_basis=(10 + i) * 50_000, last_price=50_500, opened_at=now)
        for i, s in enumerate(SYMBOLS)
    )
    return store


def push_all(hot: HotCache, rng: random.Random) -> None:
    now = datetime.now(KST)
    hot.push_prices(
        PriceQuote(s, p, p - 10, p + 10, 1000, now)
        for s in SYMBOLS
        for p in [rng.randrange(4_900, 5_100) * 10]
    )


def refresh_positions(hot: HotCache, store: TradingStore) -> None:
    positions = store.load_positions()
    hot.write_positions(CachedPosition.of(positions[s], 100_000_000) for s in SYMBOLS)


RISK = RiskState(100_000_000, 100_000_000, 10_000_000, -200_000, 3, 0, -3_000_000, 2_800_000)


def hot_cache(backend: CacheBackend, store: TradingStore) -> HotCache:
    return HotCache(CacheManager(backend, WallClock()), store)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=5_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="qts-bench-cache-"))
    store = make_store(tmp / "store.sqlite")
    prefix = f"qts-bench:{uuid.uuid4().hex[:12]}:"
    redis_backend = RedisCache(URL, prefix)
    try:
        mem = hot_cache(MemoryCache(WallClock()), store)
        red = hot_cache(redis_backend, store)
        results: dict[str, Any] = {}

        # 1. one price read: keep the key fresh (100 ms TTL) by pushing every 50 reads
        for name, hot in (("memory", mem), ("redis", red)):
            counter = [0]

            def read(hot: HotCache = hot, counter: list[int] = counter) -> None:
                counter[0] += 1
                if counter[0] % 50 == 0:
                    push_all(hot, rng)
                hot.prices([SYMBOLS[counter[0] % len(SYMBOLS)]])

            push_all(hot, rng)
            samples = timed(read, args.reads)
            results[f"{name}_get"] = line(f"{name} price read", samples)
        raw = timed(lambda: redis_backend.get_hashes(["price:" + SYMBOLS[0]]), args.reads)
        results["redis_raw"] = line("redis bare HGETALL", raw)

        # 2. a pre-trade check's reads on Redis
        red.publish_risk(RISK)
        refresh_positions(red, store)
        n = [0]

        def precheck() -> None:
            # the writers keep the keys warm as a run does: prices every 50 checks, positions
            # and risk state every 200 (their TTLs are 1 s and 5 s)
            n[0] += 1
            if n[0] % 50 == 0:
                push_all(red, rng)
            if n[0] % 200 == 0:
                refresh_positions(red, store)
                red.publish_risk(RISK)
            s = SYMBOLS[n[0] % len(SYMBOLS)]
            red.price(s)
            red.position(s)
            red.risk()

        push_all(red, rng)
        results["precheck"] = line("precheck (price+pos+risk)", timed(precheck, 1_000))

        # 3. a paced workload's hit rate on Redis (fresh metrics)
        work = hot_cache(RedisCache(URL, prefix + "w:"), store)
        work.publish_risk(RISK)
        end = time.monotonic() + args.seconds
        last_push = last_pos = last_risk = 0.0
        while (now := time.monotonic()) < end:
            if now - last_push >= 0.020:
                push_all(work, rng)
                last_push = now
            if now - last_pos >= 0.5:
                refresh_positions(work, store)
                last_pos = now
            if now - last_risk >= 1.0:
                work.publish_risk(RISK)
                last_risk = now
            s = rng.choice(SYMBOLS)
            work.prices([s])
            work.position(s)
            time.sleep(rng.uniform(0, 0.004))
        m = work.manager.metrics
        price_rate = m.hit_rate(Family.PRICE) or 0.0
        pos_rate = m.hit_rate(Family.POSITION) or 0.0
        fams = (m.families[Family.PRICE], m.families[Family.POSITION])
        reads = sum(f.reads for f in fams)
        hit_rate = sum(f.hits for f in fams) / reads if reads else 0.0
        print(
            f"paced workload {args.seconds:.0f} s: {reads:,} reads, hit rate {hit_rate:.4%} "
            f"(price {price_rate:.4%}, position {pos_rate:.4%})"
        )
        work.manager.backend.purge()

        # 4. breaker open: reads go to the store; the baseline is the store read itself
        for _ in range(red.manager.breaker.failure_threshold):
            red.manager.breaker.failure("benchmark: forced open")
        fb_pos = timed(lambda: red.position(rng.choice(SYMBOLS)), args.reads // 5)
        fb_price = timed(lambda: red.prices([rng.choice(SYMBOLS)]), args.reads // 5)
        base = timed(lambda: store.load_positions()[rng.choice(SYMBOLS)], args.reads // 5)
        results["fallback_pos"] = line("fallback position (store)", fb_pos)
        results["fallback_price"] = line("fallback price (board)", fb_price)
        results["baseline"] = line("baseline store read", base)
        speedup = results["baseline"][1] / results["redis_get"][1]
        print(f"redis read p99 vs store read p99: {speedup:.1f}x faster")
        fallback = max(results["fallback_pos"][1], results["fallback_price"][1])
        print(
            json.dumps(
                {
                    "reads": args.reads,
                    "redis_get_p50_ms": round(results["redis_get"][0], 4),
                    "redis_get_p99_ms": round(results["redis_get"][1], 4),
                    "redis_raw_get_p99_ms": round(results["redis_raw"][1], 4),
                    "memory_get_p50_ms": round(results["memory_get"][0], 4),
                    "memory_get_p99_ms": round(results["memory_get"][1], 4),
                    "precheck_p99_ms": round(results["precheck"][1], 4),
                    "hit_rate": round(hit_rate, 5),
                    "price_hit_rate": round(price_rate, 5),
                    "position_hit_rate": round(pos_rate, 5),
                    "fallback_read_p99_ms": round(fallback, 4),
                    "fallback_position_read_p99_ms": round(results["fallback_pos"][1], 4),
                    "store_read_p99_ms": round(results["baseline"][1], 4),
                    "redis_vs_store_p99_speedup": round(speedup, 2),
                    "precheck_target_met": results["precheck"][1] < 5.0,
                    "cache_read_target_met": results["redis_get"][1] <= 5.0,
                }
            )
        )
    finally:
        redis_backend.purge()
        redis_backend.close()
        store.close()


if __name__ == "__main__":
    main()
