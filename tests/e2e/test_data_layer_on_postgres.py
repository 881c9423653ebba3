"""`qts run` with its books in PostgreSQL fills the data layer: every print it receives in
``tick_data``, every order event with its latency in ``execution_logs``, the feedback loop's
rows in ``feedback_data``, and ``ohlcv_1m`` gives
back, for the day, the 1-minute bars of those ticks. In each storage mode the tests have a server
for: plain PostgreSQL always, TimescaleDB when ``$QTS_TEST_TSDB_DSN`` names one (auto mode picks
it there)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from live_helpers import kis_env, kis_venue
from psycopg import sql

from qts.core.time import KST
from qts.data.market_ports import Bar, Tick
from qts.data.postgres import PostgresMarketStore, PostgresStore
from qts.model.enums import OrderStatus

PLAIN = os.environ.get("QTS_TEST_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/test"
TSDB = os.environ.get("QTS_TEST_TSDB_DSN")
TARGETS = [("plain", PLAIN)] + ([("timescale", TSDB)] if TSDB else [])
DAY = datetime(2026, 1, 5, tzinfo=KST)  # config/defaults/qts.yaml run.start


def bars_of(ticks: list[Tick]) -> list[Bar]:
    """1-minute bars computed here from ticks (the port's rule: order by time then price)."""
    by_minute: dict[datetime, list[Tick]] = {}
    for t in sorted(ticks, key=lambda t: (t.time, t.price)):
        by_minute.setdefault(t.time.replace(second=0, microsecond=0), []).append(t)
    return [
        Bar(
            minute,
            group[0].symbol,
            group[0].price,
            max(t.price for t in group),
            min(t.price for t in group),
            group[-1].price,
            sum(t.volume for t in group),
        )
        for minute, group in sorted(by_minute.items())
    ]


@pytest.fixture(scope="module", params=TARGETS, ids=[t[0] for t in TARGETS])
def run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """One seeded paper day on a fresh schema: (mode, dsn, schema)."""
    mode, dsn = request.param
    schema = f"qts_e2e_dl_{uuid.uuid4().hex[:8]}"
    tmp: Path = tmp_path_factory.mktemp("datalayer")
    config = tmp / "qts.yaml"
    config.write_text(f"data:\n  backend: postgres\n  dsn: {dsn}\n  pg_schema: {schema}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "qts",
            "run",
            "--seed",
            "7",
            "--speed",
            "max",
            "--for",
            "1d",
            "--config",
            str(config),
            "--db",
            str(tmp / "run.sqlite"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        assert done.returncode == 0, done.stderr
        yield mode, dsn, schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if mode == "timescale":  # its jobs first: a running one would deadlock the drop
                conn.execute(
                    "SELECT delete_job(j.id) FROM _timescaledb_config.bgw_job j JOIN "
                    "_timescaledb_catalog.hypertable h ON h.id = j.hypertable_id LEFT JOIN "
                    "_timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = h.id "
                    "WHERE h.schema_name = %s OR c.user_view_schema = %s",
                    (schema, schema),
                )
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_every_print_is_a_tick_and_the_bars_equal_the_ticks(run: tuple[str, str, str]) -> None:
    mode, dsn, schema = run
    market = PostgresMarketStore(dsn, schema=schema, migrate=False, min_size=1, max_size=2)
    try:
        assert market.status()["mode"] == mode
        lo, hi = DAY, DAY + timedelta(days=1)
        symbols = sorted(market.latest_ticks(_symbols(dsn, schema)))
        assert len(symbols) >= 5
        for symbol in symbols:
            ticks = market.ticks(symbol, lo, hi)
            # a KRX day of 1-minute bars: one print each (09:00 .. 15:30 with the auction)
            assert 300 <= len(ticks) <= 400, (symbol, len(ticks))
            assert all(t.source == "paper" for t in ticks)
            assert market.ohlcv_1m(symbol, lo, hi) == bars_of(ticks)
    finally:
        market.close()


def test_every_order_event_is_logged_with_its_latency(run: tuple[str, str, str]) -> None:
    _, dsn, schema = run
    store = PostgresStore(dsn, schema=schema, migrate=False, min_size=1, max_size=2)
    market = PostgresMarketStore(store.db)
    try:
        orders = store.load_orders()
        fills = store.load_fills()
        logs = market.execution_logs(DAY - timedelta(days=1), DAY + timedelta(days=3))
        by_stage: dict[str, list[str]] = {}
        for row in logs:
            by_stage.setdefault(row.stage, []).append(row.order_id)
        sent = [  # what reached the venue: acknowledged, or refused by it
            o.client_order_id
            for o in orders
            if o.venue_order_id or o.status is OrderStatus.REJECTED
        ]
        assert len(sent) > 20
        assert sorted(by_stage["submit"]) == sorted(sent)
        assert sorted(by_stage["fill"]) == sorted(f.client_order_id for f in fills)
        expired = [o.client_order_id for o in orders if o.status is OrderStatus.EXPIRED]
        assert sorted(by_stage.get("expired", [])) == sorted(expired)
        assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in logs)
        assert all(r.success for r in logs if r.stage == "fill")
        # the feedback loop (scalp executions) writes feedback_data into the same schema
        feedback = market.feedback(DAY - timedelta(days=1), DAY + timedelta(days=3))
        assert feedback
        # an execution's id, whose child orders are <id>.<n> in the books
        parents = {o.client_order_id.split(".")[0] for o in orders}
        assert {r.order_id for r in feedback} <= parents
    finally:
        market.close()
        store.close()


def _symbols(dsn: str, schema: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return [str(r[0]) for r in conn.execute("SELECT DISTINCT symbol FROM tick_data")]


# ---------------------------------------------------------------- the live path (KIS fake)


def test_the_live_kis_path_records_every_print(tmp_path: Path) -> None:
    """`qts run --broker kis` against the local KIS exchange: every H0STCNT0 print the run
    counted is a row of tick_data, and the day's bars from ohlcv_1m equal those ticks."""
    schema = f"qts_e2e_kis_{uuid.uuid4().hex[:8]}"
    config = tmp_path / "qts.yaml"
    config.write_text(f"data:\n  backend: postgres\n  dsn: {PLAIN}\n  pg_schema: {schema}\n")
    try:
        with kis_venue(120.0) as (server, _clock, _market):
            done = subprocess.run(
                [sys.executable, "-m", "qts", "run", "--broker", "kis", "--account", "paper",
                 "--for", "20s", "--config", str(config)],
                capture_output=True, text=True, env=kis_env(server), cwd=tmp_path, timeout=180,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            counted = re.search(r"(\d+) trade prints ->", done.stdout)
            assert counted is not None, done.stdout
            market = PostgresMarketStore(PLAIN, schema=schema, migrate=False, min_size=1)
            try:
                symbols = _symbols(PLAIN, schema)
                lo, hi = datetime(2020, 1, 1, tzinfo=KST), datetime(2030, 1, 1, tzinfo=KST)
                ticks = {s: market.ticks(s, lo, hi) for s in symbols}
                assert sum(map(len, ticks.values())) == int(counted.group(1)) > 0
                assert {t.source for ts in ticks.values() for t in ts} == {"kis-paper"}
                for symbol, rows in ticks.items():
                    assert market.ohlcv_1m(symbol, lo, hi) == bars_of(rows)
            finally:
                market.close()
    finally:
        with psycopg.connect(PLAIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
