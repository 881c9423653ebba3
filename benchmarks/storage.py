"""Storage throughput and latency, PostgreSQL against SQLite, in one run.

1. Tick ingestion: ``--ticks`` ticks (1,000,000 by default; 200 symbols over one KRX session)
   through ``MarketDataStore.ingest_ticks`` (binary COPY into PostgreSQL; one executemany
   transaction into a durable SQLite file). The ticks are built before timing; the time
   includes the adapters' value checks.
2. Reading the latest positions (``TradingStore.load_positions``, 50 positions) as the ETEDA
   cycle does at every start: p50/p99 over ``--reads`` calls, after the bulk load has been
   vacuumed and checkpointed (what autovacuum and the checkpointer do next anyway).
3. One day of 1-minute bars for one symbol (``MarketDataStore.ohlcv_1m``): PostgreSQL with the
   bars materialized by the scheduler's refresh (the steady state) and with none materialized
   (all computed from the ticks), SQLite (always computed from the ticks).

The PostgreSQL query plans of 2 and 3 are printed: they show the indexes the schema has for
them (positions: primary key; bars: (symbol, bucket) primary key of ohlcv_1m; ticks:
(symbol, time)). Targets: >= 200,000 ticks/s into PostgreSQL; position read p99 < 2 ms.

PostgreSQL: ``--dsn`` (default ``$QTS_PG_DSN``, else postgresql://postgres@127.0.0.1:5432/test);
a schema of its own is created (in whatever mode auto picks there: TimescaleDB where the
extension is preloaded, else plain) and dropped. The JSON keys are the same in either mode;
``mode`` says which it was. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from qts.core.time import kst
from qts.data import SqliteStore, TradingStore
from qts.data.market_ports import MarketDataStore, Tick
from qts.data.postgres import PostgresDatabase, PostgresMarketStore, PostgresStore, timescale
from qts.data.sqlite_market import SqliteMarketStore
from qts.model import Position

DSN = os.environ.get("QTS_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
OPEN = kst(2024, 1, 2, 9, 0)
SESSION = timedelta(hours=6, minutes=30)
SYMBOLS = [f"{i:06d}" for i in range(1, 201)]


def build_ticks(n: int, seed: int) -> list[Tick]:
    """n ticks spread evenly over the session, symbols round-robin, prices a random walk."""
    rng = random.Random(seed)
    step = SESSION / n
    prices = {s: rng.randrange(1_000, 100_000) * 10 for s in SYMBOLS}
    ticks = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = max(10, prices[symbol] + rng.choice((-10, 0, 0, 10)))
        prices[symbol] = price
        ticks.append(
            Tick(OPEN + step * i, symbol, price, rng.randrange(1, 1_000), price - 10, price + 10)
        )
    return ticks


def ingest_rate(store: MarketDataStore, ticks: list[Tick]) -> float:
    start = time.perf_counter()
    stored = store.ingest_ticks(ticks)
    elapsed = time.perf_counter() - start
    assert stored == len(ticks)
    return len(ticks) / elapsed


def latencies_ms(call: Callable[[], Any], n: int) -> tuple[float, float]:
    for _ in range(min(20, n)):  # warm-up: prepared statements, caches
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


def save_positions(store: TradingStore) -> None:
    store.save_positions(
        Position(s, qty=10, cost_basis=700_000, last_price=70_000, opened_at=OPEN)
        for s in SYMBOLS[:50]
    )


def settle(dsn: str, schema: str) -> None:
    """After the bulk load, what autovacuum and the checkpointer would do next, done now, so
    the reads below measure the steady state rather than the load's aftermath."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(schema, "tick_data")))
        # CHECKPOINT needs pg_checkpoint (or superuser); without it the WAL is flushed later.
        with contextlib.suppress(psycopg.Error):
            conn.execute("CHECKPOINT")


def explain(dsn: str, schema: str, query: str, params: tuple[Any, ...]) -> str:
    """The plan's node lines, without costs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        lines = [r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query, params)]
    return "\n".join("    " + line for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=3_000)
    parser.add_argument("--bar-reads", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dsn", default=DSN, help="PostgreSQL (plain or with TimescaleDB)")
    args = parser.parse_args()
    dsn: str = args.dsn

    ticks = build_ticks(args.ticks, args.seed)
    symbol, day_end = SYMBOLS[0], OPEN + timedelta(days=1)
    schema = f"qts_bench_{os.getpid()}"
    db = PostgresDatabase(dsn, schema=schema, migrate=True, min_size=2, max_size=4)
    mode = str(db.require_current())
    db.set_background_jobs(False)  # TimescaleDB: no policy job runs into the measurements
    try:
        pg_market = PostgresMarketStore(db)
        pg_store = PostgresStore(db)
        pg_rate = ingest_rate(pg_market, ticks)
        settle(dsn, schema)
        save_positions(pg_store)
        pg_pos = latencies_ms(pg_store.load_positions, args.reads)
        live = latencies_ms(lambda: pg_market.ohlcv_1m(symbol, OPEN, day_end), args.bar_reads)
        bars = pg_market.ohlcv_1m(symbol, OPEN, day_end)
        db.refresh_aggregates(OPEN + timedelta(days=1), full=True)
        assert pg_market.ohlcv_1m(symbol, OPEN, day_end) == bars
        pg_bars = latencies_ms(lambda: pg_market.ohlcv_1m(symbol, OPEN, day_end), args.bar_reads)
        plans = {
            "positions": explain(
                dsn, schema, 'SELECT * FROM positions ORDER BY symbol COLLATE "C"', ()
            ),
            "ohlcv_1m (materialized)": explain(
                dsn,
                schema,
                "SELECT * FROM ohlcv_1m WHERE symbol = %s AND bucket >= %s AND bucket < %s",
                (symbol, OPEN, day_end),
            ),
            "tick_data (live bars)": explain(
                dsn,
                schema,
                "SELECT * FROM tick_data WHERE symbol = %s AND time >= %s AND time < %s",
                (symbol, OPEN, day_end),
            ),
        }
        pg_store.close()
        pg_market.close()
    finally:
        db.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            if mode == "timescale":  # its jobs first: a running one would deadlock the drop
                timescale.delete_jobs(conn, schema)
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qts.sqlite"
        sqlite_market = SqliteMarketStore(path)
        sqlite_store = SqliteStore(path)
        sqlite_rate = ingest_rate(sqlite_market, ticks)
        save_positions(sqlite_store)
        sqlite_pos = latencies_ms(sqlite_store.load_positions, args.reads)
        sqlite_bars = latencies_ms(
            lambda: sqlite_market.ohlcv_1m(symbol, OPEN, day_end), args.bar_reads
        )
        assert sqlite_market.ohlcv_1m(symbol, OPEN, day_end) == bars
        sqlite_store.close()
        sqlite_market.close()

    print(f"PostgreSQL in {mode} mode")
    print(f"{args.ticks:,} ticks, {len(SYMBOLS)} symbols, one session; {len(bars)} bars/day")
    print(f"ingest   PostgreSQL (COPY)    {pg_rate:>12,.0f} ticks/s")
    print(f"ingest   SQLite (durable)     {sqlite_rate:>12,.0f} ticks/s")
    print(f"positions PostgreSQL  p50 {pg_pos[0]:7.3f} ms  p99 {pg_pos[1]:7.3f} ms")
    print(f"positions SQLite      p50 {sqlite_pos[0]:7.3f} ms  p99 {sqlite_pos[1]:7.3f} ms")
    print(
        f"bars/day PostgreSQL   p50 {pg_bars[0]:7.3f} ms  p99 {pg_bars[1]:7.3f} ms (materialized)"
    )
    print(f"bars/day PostgreSQL   p50 {live[0]:7.3f} ms  p99 {live[1]:7.3f} ms (from ticks)")
    print(f"bars/day SQLite       p50 {sqlite_bars[0]:7.3f} ms  p99 {sqlite_bars[1]:7.3f} ms")
    for name, plan in plans.items():
        print(f"plan: {name}\n{plan}")
    print(
        json.dumps(
            {
                "mode": mode,
                "ticks": args.ticks,
                "pg_ticks_per_s": round(pg_rate),
                "sqlite_ticks_per_s": round(sqlite_rate),
                "position_read_p50_ms": round(pg_pos[0], 3),
                "position_read_p99_ms": round(pg_pos[1], 3),
                "sqlite_position_read_p99_ms": round(sqlite_pos[1], 3),
                "ohlcv_1m_day_p50_ms": round(pg_bars[0], 3),
                "ohlcv_1m_day_p99_ms": round(pg_bars[1], 3),
                "ohlcv_1m_day_live_p99_ms": round(live[1], 3),
                "sqlite_ohlcv_1m_day_p99_ms": round(sqlite_bars[1], 3),
                "pg_ingest_target_met": pg_rate >= 200_000,
                "position_read_target_met": pg_pos[1] < 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
