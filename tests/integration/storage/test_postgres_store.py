"""What only the PostgreSQL adapters need checked, against the real server: migrations,
storage mode, partitions and retention, the aggregates, connections that die, and errors.

The port's semantics are in test_store_contract.py and test_market_contract.py, which run
against PostgreSQL too. Every time-dependent call takes an explicit ``now``. Tests on the
``schema``/``db`` fixtures run once per storage mode the tests have a server for
(pg_helpers.TARGETS: plain always, TimescaleDB with ``$QTS_TEST_TSDB_DSN``); ``plain_*`` and
``tsdb_*`` fixtures are for one mode's own machinery (partitions, chunks).
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from market_helpers import expected_bars, random_ticks
from pg_helpers import PLAIN, POOLS, TARGETS, Target, admin, open_database
from psycopg import sql
from psycopg.conninfo import make_conninfo
from storage_helpers import META, T0, Trader, trade_some

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data import DecisionRecord
from qts.data.market_ports import ExecutionLog, Tick
from qts.data.ports import SafetyEventRecord
from qts.data.postgres import (
    Mode,
    PostgresDatabase,
    PostgresMarketStore,
    PostgresStore,
    latest_version,
)
from qts.data.postgres.database import TIMESCALE_REFRESH, TIMESCALE_RETENTION
from qts.data.postgres.migration_files import migrations
from qts.model import Order, OrderSide, OrderType

DAY = timedelta(days=1)
TSDB_TARGETS = [t for t in TARGETS if t.timescale]


@pytest.fixture(params=TARGETS, ids=lambda t: t.mode)
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def schema(target: Target) -> Iterator[str]:
    with POOLS[target.mode].scratch() as name:
        yield name


@pytest.fixture
def db(schema: str, target: Target) -> Iterator[PostgresDatabase]:
    database = open_database(schema, target, migrate=True, min_size=1, max_size=4, durable=False)
    yield database
    database.close()


@pytest.fixture
def market(db: PostgresDatabase) -> Iterator[PostgresMarketStore]:
    store = PostgresMarketStore(db)
    yield store
    store.close()


@pytest.fixture
def plain_schema() -> Iterator[str]:
    with POOLS["plain"].scratch() as name:
        yield name


@pytest.fixture
def plain_db(plain_schema: str) -> Iterator[PostgresDatabase]:
    database = open_database(plain_schema, migrate=True, min_size=1, max_size=4, durable=False)
    yield database
    database.close()


@pytest.fixture
def plain_market(plain_db: PostgresDatabase) -> Iterator[PostgresMarketStore]:
    store = PostgresMarketStore(plain_db)
    yield store
    store.close()


@pytest.fixture(params=TSDB_TARGETS, ids=lambda t: t.mode)
def tsdb(request: pytest.FixtureRequest) -> Target:
    """The TimescaleDB server of ``$QTS_TEST_TSDB_DSN`` (none set: the test is not collected
    as run; CI is plain-only)."""
    return request.param  # type: ignore[no-any-return]


def catalog(schema: str, target: Target = PLAIN) -> dict[str, Any]:
    """Everything the migrations create in a schema, to compare whole schemas. TimescaleDB's
    own triggers name its internal ids, which a re-creation changes: they are left out."""
    with admin(target) as conn:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(query, (schema,)).fetchall()]

        return {
            "relations": rows(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1"
            ),
            "columns": rows(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2"
            ),
            "constraints": rows(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                "WHERE n.nspname = %s ORDER BY 1, 2"
            ),
            "functions": rows(
                "SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prosrc "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s ORDER BY 1, 2"
            ),
            "triggers": rows(
                "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal "
                "AND t.tgname NOT LIKE 'ts\\_%%' ORDER BY 1, 2"
            ),
        }


def partitions(schema: str, parent: str) -> list[str]:
    with admin() as conn:
        return [
            str(r[0])
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
                (f"{schema}.{parent}",),
            )
        ]


def sql_rows(
    schema: str, query: str, params: tuple[Any, ...] = (), target: Target = PLAIN
) -> list[tuple[Any, ...]]:
    with admin(target) as conn:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        return [tuple(r) for r in conn.execute(query, params).fetchall()]


def sql_execute(schema: str, statement: str, target: Target = PLAIN) -> None:
    with admin(target) as conn:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        conn.execute(statement)


def materialized(db: PostgresDatabase, target: Target, aggregate: str = "ohlcv_1m") -> int:
    """Buckets of an aggregate that are materialized rather than computed when read."""
    query = (
        f"SELECT count(*) FROM {aggregate} WHERE bucket < qts_cagg_watermark('{aggregate}')"
        if target.timescale
        else f"SELECT count(*) FROM {aggregate}"
    )
    return int(sql_rows(db.schema, query, target=target)[0][0])


# ---------------------------------------------------------------- mode, status, errors


def test_detection_picks_the_servers_mode_and_status_says_so(schema: str, target: Target) -> None:
    db = open_database(schema, target, mode="auto", migrate=True, min_size=1)
    try:
        status = db.status()
    finally:
        db.close()
    assert status["mode"] == target.mode
    assert status["timescaledb"]["available"] is target.timescale
    assert (status["timescaledb"]["installed"] is not None) is target.timescale
    assert status["schema_version"] == status["latest_version"] == latest_version() == 8
    assert status["pending_migrations"] == 0
    assert status["backend"] == "postgresql" and status["schema"] == schema
    series = {
        "decision_log",
        "execution_logs",
        "feedback_data",
        "hourly_execution_metrics",
        "ohlcv_1m",
        "t_ledger",
        "tick_data",
    }
    # TimescaleDB: every hypertable and continuous aggregate has chunks; plain: partitions
    extra = {"ohlcv_1d", "daily_pnl"} if target.timescale else set()
    assert set(status["partitions"]) == series | extra
    assert status["aggregate_watermarks"] == {"hourly_execution_metrics": None, "ohlcv_1m": None}
    if target.timescale:
        assert "note" not in status
    else:  # why not TimescaleDB, and how to get it
        assert "timescaledb extension is not installed on this server" in status["note"]
        assert "docs/runbooks/postgres.md" in status["note"]
    json.dumps(status, default=str)  # what `qts db status --json` prints


def test_timescale_mode_is_refused_where_the_extension_is_missing(plain_schema: str) -> None:
    with pytest.raises(StorageError, match="timescaledb extension is not available"):
        open_database(plain_schema, migrate=True, mode="timescale")
    database = open_database(plain_schema)
    assert database.version_and_mode() == (0, None)  # nothing was applied
    database.close()


def test_the_recorded_mode_wins_and_another_is_refused(
    db: PostgresDatabase, target: Target
) -> None:
    other = "plain" if target.timescale else "timescale"
    with pytest.raises(StorageError, match=f"created in {target.mode} mode, {other} was asked"):
        open_database(db.schema, target, migrate=True, mode=other)
    assert db.version_and_mode() == (8, Mode(target.mode))


def test_status_and_errors_never_show_the_password(schema: str, target: Target) -> None:
    dsn = make_conninfo(target.dsn, password="s3cret-pw")
    database = PostgresDatabase(dsn, schema=schema, migrate=True, min_size=1, mode=target.mode)
    try:
        assert "s3cret-pw" not in json.dumps(database.status(), default=str)
    finally:
        database.close()
    with pytest.raises(StorageError) as caught:
        PostgresDatabase(make_conninfo(dsn, port=1), schema=schema)
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize("opener", [PostgresDatabase, PostgresStore, PostgresMarketStore])
def test_an_unreachable_server_is_one_line_storage_error(opener: Any) -> None:
    dsn = make_conninfo(PLAIN.dsn, port=1)  # nothing listens on port 1
    with pytest.raises(StorageError) as caught:
        opener(dsn, schema="qts")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("postgres ") and "cannot connect" in message
    assert ":1/" in message  # names where it tried


def test_durable_keeps_synchronous_commit_and_backtests_may_drop_it(
    schema: str, target: Target
) -> None:
    for durable, expected in ((True, "on"), (False, "off")):
        database = open_database(schema, target, migrate=True, durable=durable, min_size=1)
        try:
            with database.connection() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone() == (expected,)
                assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
        finally:
            database.close()


# ---------------------------------------------------------------- migrations


def test_migrations_are_idempotent(db: PostgresDatabase, schema: str, target: Target) -> None:
    before = catalog(schema, target)
    query = "SELECT version, applied_at FROM schema_migrations ORDER BY 1"
    applied = sql_rows(schema, query, target=target)
    assert [v for v, _ in applied] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert db.migrate() == []
    again = open_database(schema, target, migrate=True, min_size=1)
    again.close()
    assert catalog(schema, target) == before
    assert sql_rows(schema, query, target=target) == applied


def test_concurrent_first_migrations_apply_each_version_once(schema: str, target: Target) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def migrate() -> None:
        start.wait()
        try:
            open_database(schema, target, migrate=True).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sql_rows(schema, "SELECT version FROM schema_migrations ORDER BY 1", target=target) == [
        (v,) for v in range(1, 9)
    ]


def test_downgrade_and_upgrade_round_trip(
    db: PostgresDatabase, schema: str, target: Target
) -> None:
    fresh = catalog(schema, target)
    store = PostgresStore(db)
    trader = Trader(store)
    store.init_run(META)
    trade_some(trader)
    ledger = store.load_ledger()
    # Undo the market side (0004-0006), the capital journal (0007) and the writer row (0008)
    # and redo them: the trading state is untouched.
    assert db.downgrade(3) == [8, 7, 6, 5, 4]
    assert db.version_and_mode() == (3, Mode(target.mode))
    with pytest.raises(StorageError, match="run `qts db migrate`"):
        PostgresStore(db)
    with pytest.raises(StorageError, match="needs 8"):
        PostgresMarketStore(db)
    assert db.migrate(5) == [4, 5]
    assert db.migrate() == [6, 7, 8]
    assert catalog(schema, target) == fresh
    assert PostgresStore(db).load_ledger() == ledger
    # All the way down: only the bookkeeping table is left; all the way up: the same schema.
    assert db.downgrade(0) == [8, 7, 6, 5, 4, 3, 2, 1]
    assert [r[0] for r in catalog(schema, target)["relations"]] == [
        "schema_migrations",
        "schema_migrations_pkey",
    ]
    assert db.migrate() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert catalog(schema, target) == fresh
    with pytest.raises(StorageError, match="cannot downgrade to 9"):
        db.downgrade(9)
    with pytest.raises(StorageError, match="no migration 10"):
        db.migrate(10)


def test_a_changed_released_migration_is_refused(
    db: PostgresDatabase, schema: str, target: Target
) -> None:
    with admin(target) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET checksum = 'edited' WHERE version = 2").format(
                sql.Identifier(schema, "schema_migrations")
            )
        )
    with pytest.raises(StorageError, match="0002_trading differs from the shipped file"):
        open_database(schema, target, migrate=True)


def test_a_schema_newer_than_this_qts_is_refused(
    db: PostgresDatabase, schema: str, target: Target
) -> None:
    with admin(target) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (version, name, mode, checksum) VALUES (%s, 'future', %s, '')"
            ).format(sql.Identifier(schema, "schema_migrations")),
            (latest_version() + 1, target.mode),
        )
    for open_ in (lambda: PostgresStore(db), lambda: open_database(schema, target, migrate=True)):
        with pytest.raises(StorageError, match="newer than this QTS supports"):
            open_()


def test_the_timescale_migrations_run_against_stand_ins(plain_schema: str) -> None:
    """TimescaleDB is not installed here: run the timescale scripts, up and down, against
    stand-ins for its functions (and without its WITH options), so every table, index,
    trigger and view they declare is at least parsed and created by PostgreSQL."""
    schema = plain_schema
    stubs = f"{schema}_ts"
    ts_only = re.compile(r"ALTER TABLE \w+ SET \(timescaledb\.[^;]*;", re.S)
    with_opts = re.compile(r"WITH \(timescaledb\.[^)]*\)", re.S)
    with admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(stubs)))
        try:
            conn.execute(
                sql.SQL("SET search_path TO {}, {}").format(
                    sql.Identifier(schema), sql.Identifier(stubs)
                )
            )
            conn.execute(sql.SQL(STAND_INS).format(stubs=sql.Identifier(stubs)))
            # qts_cagg_watermark reads TimescaleDB's catalog: created, not validated, here
            conn.execute("SET check_function_bodies = off")
            conn.execute(
                sql.SQL("SET search_path TO {}, {}").format(
                    sql.Identifier(schema), sql.Identifier(stubs)
                )
            )
            scripts = migrations(Mode.TIMESCALE)
            for m in scripts:
                up = m.up.replace("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public;", "")
                conn.execute(with_opts.sub("", ts_only.sub("", up)))
            calls = conn.execute(f"SELECT name, args FROM {stubs}.calls ORDER BY n").fetchall()
            for m in reversed(scripts):
                conn.execute(m.down)
            left = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s",
                (schema,),
            ).fetchone()
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(stubs)))
    assert left == (0,)
    names = [name for name, _ in calls]
    assert names.count("create_hypertable") == 6
    assert names.count("add_retention_policy") == 6
    assert names.count("add_compression_policy") == 2
    assert names.count("add_continuous_aggregate_policy") == 3


# Stand-ins with TimescaleDB's signatures: they record the call and do nothing else.
STAND_INS = """
CREATE TABLE {stubs}.calls (n serial, name text, args text);
CREATE FUNCTION {stubs}.create_hypertable(relation regclass, time_column_name name,
    chunk_time_interval interval DEFAULT NULL, create_default_indexes boolean DEFAULT true)
    RETURNS void LANGUAGE sql
    AS $$ INSERT INTO calls (name, args) VALUES ('create_hypertable', relation::text) $$;
CREATE FUNCTION {stubs}.add_retention_policy(relation regclass, drop_after interval)
    RETURNS void LANGUAGE sql
    AS $$ INSERT INTO calls (name, args) VALUES ('add_retention_policy',
          relation::text || ' ' || drop_after::text) $$;
CREATE FUNCTION {stubs}.remove_retention_policy(relation regclass, if_exists boolean)
    RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION {stubs}.add_compression_policy(relation regclass, compress_after interval)
    RETURNS void LANGUAGE sql
    AS $$ INSERT INTO calls (name, args) VALUES ('add_compression_policy', relation::text) $$;
CREATE FUNCTION {stubs}.remove_compression_policy(relation regclass, if_exists boolean)
    RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION {stubs}.add_continuous_aggregate_policy(relation regclass,
    start_offset interval, end_offset interval, schedule_interval interval)
    RETURNS void LANGUAGE sql
    AS $$ INSERT INTO calls (name, args) VALUES ('add_continuous_aggregate_policy',
          relation::text || ' ' || start_offset::text || ' ' || end_offset::text) $$;
CREATE FUNCTION {stubs}.time_bucket(bucket interval, ts timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket, ts, '2000-01-01') $$;
CREATE FUNCTION {stubs}.time_bucket(bucket interval, ts timestamptz, zone text)
    RETURNS timestamptz LANGUAGE sql STABLE AS $$ SELECT date_trunc('day', ts, zone) $$;
CREATE FUNCTION {stubs}.keep_first(state anyelement, value anyelement, ts timestamptz)
    RETURNS anyelement LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(state, value) $$;
CREATE AGGREGATE {stubs}.first(anyelement, timestamptz)
    (SFUNC = {stubs}.keep_first, STYPE = anyelement);
CREATE AGGREGATE {stubs}.last(anyelement, timestamptz)
    (SFUNC = {stubs}.keep_first, STYPE = anyelement);
"""


def test_the_timescale_policies_python_applies_match_the_migrations() -> None:
    text = "\n".join(m.up for m in migrations(Mode.TIMESCALE))
    retention = {
        name: timedelta(days=int(days))
        for name, days in re.findall(
            r"add_retention_policy\('(\w+)', drop_after => INTERVAL '(\d+) days'\)", text
        )
    }
    assert retention == TIMESCALE_RETENTION
    units = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": DAY}
    units |= {f"{u}s": v for u, v in units.items()}

    def span(value: str) -> timedelta:
        count, unit = value.split()
        return int(count) * units[unit]

    refresh = {
        name: (span(start), span(end))
        for name, start, end in re.findall(
            r"add_continuous_aggregate_policy\('(\w+)',\s+start_offset => INTERVAL '([^']+)', "
            r"end_offset => INTERVAL '([^']+)'",
            text,
        )
    }
    assert refresh == TIMESCALE_REFRESH


# ---------------------------------------------------------------- partitions and retention


def test_ticks_go_to_day_partitions_and_retention_drops_whole_partitions(
    plain_market: PostgresMarketStore, plain_db: PostgresDatabase, plain_schema: str
) -> None:
    market, db, schema = plain_market, plain_db, plain_schema
    days = [date(2024, 3, d) for d in range(1, 11)]
    ticks = [
        Tick(kst(d.year, d.month, d.day, hour), "005930", 70_000 + hour, 1)
        for d in days
        for hour in (9, 12, 15)
    ]
    market.ingest_ticks(ticks)
    names = [f"tick_data_p{d:%Y%m%d}" for d in days]
    assert partitions(schema, "tick_data") == sorted([*names, "tick_data_default"])
    assert db.status()["default_partition_rows"]["tick_data_default"] == 0

    now = kst(2024, 3, 10, 18, 0)  # cutoff 7 days back: 2024-03-03 18:00 KST
    done = market.run_maintenance(now)
    assert [n for n in done["created"] if n.startswith("tick_data")] == [
        "tick_data_p20240311",
        "tick_data_p20240312",
        "tick_data_p20240313",
    ]
    assert [n for n in done["dropped"] if n.startswith("tick_data")] == names[:2]
    kept = market.ticks("005930", kst(2024, 2, 1), kst(2024, 4, 1))
    # 2024-03-03 09:00 is older than the cutoff but its partition is not wholly expired.
    assert kept == ticks[6:]
    assert partitions(schema, "tick_data")[0] == "tick_data_default"
    assert "tick_data_p20240302" not in partitions(schema, "tick_data")

    again = market.run_maintenance(now)
    assert again["created"] == [] and again["dropped"] == [] and again["deleted"] == {}
    later = market.run_maintenance(now + DAY)
    assert [n for n in later["dropped"] if n.startswith("tick_data")] == ["tick_data_p20240303"]


def test_ticks_go_to_day_chunks_and_retention_drops_whole_chunks(tsdb: Target) -> None:
    """TimescaleDB's counterpart: the same ticks, the same cutoff, the same ticks kept."""
    with POOLS[tsdb.mode].scratch() as schema:
        db = open_database(schema, tsdb, migrate=True, min_size=1, max_size=4, durable=False)
        market = PostgresMarketStore(db)
        try:
            days = [date(2024, 3, d) for d in range(1, 11)]
            ticks = [
                Tick(kst(d.year, d.month, d.day, hour), "005930", 70_000 + hour, 1)
                for d in days
                for hour in (9, 12, 15)
            ]
            market.ingest_ticks(ticks)
            assert db.status()["partitions"]["tick_data"] == 10  # UTC days: 00, 03, 06 h
            done = market.run_maintenance(kst(2024, 3, 10, 18, 0))
            assert done["mode"] == "timescale" and done["created"] == []
            assert sum("_hyper_" in name for name in done["dropped"]) == 2
            kept = market.ticks("005930", kst(2024, 2, 1), kst(2024, 4, 1))
            assert kept == ticks[6:]
            assert db.status()["partitions"]["tick_data"] == 8
        finally:
            market.close()
            db.close()


def test_rows_outside_every_partition_are_moved_or_expired_by_maintenance(
    plain_market: PostgresMarketStore, plain_db: PostgresDatabase, plain_schema: str
) -> None:
    market, db, schema = plain_market, plain_db, plain_schema
    now = kst(2024, 6, 1, 18, 0)
    future, old = now + DAY, now - timedelta(days=100)
    # One batch spanning 101 days is a back-fill: no partitions are made for it.
    market.ingest_ticks([Tick(future, "005930", 1, 1), Tick(old, "005930", 2, 1)])
    assert db.status()["default_partition_rows"]["tick_data_default"] == 2
    done = market.run_maintenance(now)
    assert "tick_data_p20240602" in done["created"]
    assert done["deleted"]["tick_data_default"] == 1  # the old tick, past retention
    where = sql_rows(schema, "SELECT tableoid::regclass::text, price FROM tick_data")
    assert where == [("tick_data_p20240602", 1)]
    assert db.status()["default_partition_rows"]["tick_data_default"] == 0


def test_ledger_rows_move_out_of_the_default_partition(
    plain_db: PostgresDatabase, plain_schema: str
) -> None:
    db, schema = plain_db, plain_schema
    store = PostgresStore(db)
    trader = Trader(store)
    trade_some(trader)  # January 2024: no monthly partition yet, so the default one
    before = store.load_ledger()
    assert {r[0] for r in sql_rows(schema, "SELECT tableoid::regclass::text FROM t_ledger")} == {
        "t_ledger_default"
    }
    done = db.run_maintenance(kst(2024, 1, 20))
    assert "t_ledger_p20240101" in done["created"]
    assert {r[0] for r in sql_rows(schema, "SELECT tableoid::regclass::text FROM t_ledger")} == {
        "t_ledger_p20240101"
    }
    assert store.load_ledger() == before
    buy = trader.new_order("000660", OrderSide.BUY, 1)
    trader.submit(buy)
    trader.fill(buy, 1, 130_000)  # the seq check goes on where it left off
    assert [e.seq for e in store.load_ledger()] == [1, 2, 3, 4]
    with pytest.raises(psycopg.Error, match="t_ledger_p20240101 is append-only"):
        sql_execute(schema, "UPDATE t_ledger SET pnl = 0")


def test_the_ledger_and_safety_events_are_append_only_in_every_mode(
    db: PostgresDatabase, schema: str, target: Target
) -> None:
    store = PostgresStore(db)
    trader = Trader(store)
    trade_some(trader)
    db.run_maintenance(kst(2024, 1, 20))
    store.record_safety_event(SafetyEventRecord(T0, "report", "FS001", "x", "NORMAL", "WARNING"))
    for statement in (
        "UPDATE t_ledger SET pnl = 0",
        "DELETE FROM t_ledger",
        "TRUNCATE t_ledger",
        "DELETE FROM safety_events",
        "TRUNCATE safety_events",
    ):
        with pytest.raises(psycopg.Error, match="is append-only"):
            sql_execute(schema, statement, target)
    with pytest.raises(psycopg.Error, match="ledger seq 9 does not follow the last entry"):
        sql_execute(
            schema,
            "INSERT INTO t_ledger SELECT 9, ts, symbol, market, side, qty, price, amount, "
            "commission, tax, net_amount, client_order_id, fill_id, strategy, position_after, "
            "pnl, settle_date FROM t_ledger WHERE seq = 1",
            target,
        )
    assert [e.seq for e in store.load_ledger()] == [1, 2, 3]


# ---------------------------------------------------------------- aggregates


def test_one_minute_bars_are_right_live_materialized_late_and_after_the_ticks_expire(
    market: PostgresMarketStore, db: PostgresDatabase, target: Target
) -> None:
    rng = random.Random(42)
    ticks = random_ticks(rng, "005930", T0, 120, 2_000) + random_ticks(rng, "000660", T0, 120, 300)
    market.ingest_ticks(ticks)
    lo, hi = T0 - DAY, T0 + DAY

    def bars(symbol: str = "005930") -> list[Any]:
        return market.ohlcv_1m(symbol, lo, hi)

    def want(symbol: str = "005930") -> list[Any]:
        return [b for b in expected_bars(ticks, lo, hi) if b.symbol == symbol]

    assert bars() == want() and materialized(db, target) == 0  # all live

    refreshed = db.refresh_aggregates(T0 + timedelta(minutes=60))
    watermark = T0 + timedelta(minutes=59)
    assert refreshed[0]["aggregate"] == "ohlcv_1m" and refreshed[0]["end"] == watermark
    assert materialized(db, target) == sum(1 for b in expected_bars(ticks, lo, watermark))
    assert bars() == want() and bars("000660") == want("000660")  # materialized + live

    late = random_ticks(rng, "005930", T0 + timedelta(minutes=5), 3, 50)
    market.ingest_ticks(late)  # below the watermark: read live at once, the bars stay right
    ticks += late
    lowered = datetime.fromisoformat(db.status()["aggregate_watermarks"]["ohlcv_1m"])
    assert lowered == min(t.time for t in late).replace(second=0, microsecond=0)
    assert bars() == want()
    db.refresh_aggregates(T0 + timedelta(minutes=60))
    assert bars() == want()
    marks = db.status()["aggregate_watermarks"]
    assert datetime.fromisoformat(marks["ohlcv_1m"]) == watermark  # the late ticks materialized

    db.refresh_aggregates(T0 + timedelta(hours=3))  # everything materialized
    assert materialized(db, target) == len(expected_bars(ticks, lo, hi))
    # An old back-fill (hours below the watermark, outside the refresh window) is read live
    # at once and materialized by the next refresh, in both modes.
    backfill = random_ticks(rng, "005930", T0 + timedelta(minutes=30), 10, 200)
    market.ingest_ticks(backfill)
    ticks += backfill
    assert bars() == want()
    db.refresh_aggregates(T0 + timedelta(hours=3))
    assert bars() == want()
    assert materialized(db, target) == len(expected_bars(ticks, lo, hi))
    # Ticks are kept 7 days, bars 30: once the tick partitions are gone the bars remain.
    market.run_maintenance(T0 + timedelta(days=9))
    assert market.ticks("005930", lo, hi) == []
    assert bars() == want() and bars("000660") == want("000660")
    market.run_maintenance(T0 + timedelta(days=32))
    assert bars() == []


def test_hourly_execution_metrics_equal_a_python_computation(
    market: PostgresMarketStore, db: PostgresDatabase
) -> None:
    rng = random.Random(3)
    rows = [
        ExecutionLog(
            T0 + timedelta(seconds=rng.randrange(3 * 3600)),
            f"O{i}",
            "005930",
            rng.choice(["PreCheck", "Send", "Monitor"]),
            rng.random() < 0.9,
            None if rng.random() < 0.05 else round(rng.uniform(0.1, 500.0), 3),
        )
        for i in range(600)
    ]
    market.record_execution_logs(rows)
    groups: dict[tuple[Any, str], list[ExecutionLog]] = {}
    for r in rows:
        groups.setdefault((r.time.replace(minute=0, second=0, microsecond=0), r.stage), []).append(
            r
        )

    def check() -> None:
        got = market.hourly_execution_metrics(T0, T0 + DAY)
        assert [(m.bucket, m.stage) for m in got] == sorted(groups)
        for m in got:
            group = groups[(m.bucket, m.stage)]
            latencies = sorted(r.latency_ms for r in group if r.latency_ms is not None)
            assert m.calls == len(group)
            assert m.success_count == sum(r.success for r in group)
            assert m.failure_count == sum(not r.success for r in group)
            assert m.avg_latency_ms == pytest.approx(statistics.fmean(latencies))
            p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
            assert m.p99_latency_ms == pytest.approx(p99)

    check()  # live
    db.refresh_aggregates(T0 + timedelta(hours=5))  # materialized (window ends 4 h in)
    check()
    late = ExecutionLog(T0 + timedelta(minutes=10), "late", "005930", "Send", False, 900.0)
    market.record_execution_logs([late])  # below the watermark: counted at once
    rows.append(late)
    groups[(T0, "Send")].append(late)
    check()


def test_daily_pnl_is_refreshed_on_schedule(db: PostgresDatabase, target: Target) -> None:
    store = PostgresStore(db)
    market = PostgresMarketStore(db)
    trader = Trader(store)
    trade_some(trader)
    day = T0.date()
    if not target.timescale:
        assert market.daily_pnl(day, day) == []  # a materialized view: not refreshed yet
    db.refresh_aggregates(T0 + DAY)
    ledger = store.load_ledger()
    (row,) = market.daily_pnl(day, day)
    assert (row.day, row.symbol, row.strategy) == (day, "005930", "swing_ma")
    assert row.realized_pnl == sum(e.pnl for e in ledger)
    assert row.net_cash_flow == sum(e.net_amount for e in ledger)
    assert row.fees == sum(e.commission + e.tax for e in ledger)
    assert row.trade_count == len(ledger)
    assert market.daily_pnl(day + DAY, day + 10 * DAY) == []


def test_refresh_aggregates_full_recomputes_without_untyped_nulls(
    market: PostgresMarketStore, db: PostgresDatabase
) -> None:
    ticks = random_ticks(random.Random(5), "005930", T0, 30, 300)
    market.ingest_ticks(ticks)
    done = db.refresh_aggregates(T0 + timedelta(hours=2), full=True)
    assert done[0]["aggregate"] == "ohlcv_1m"
    assert market.ohlcv_1m("005930", T0, T0 + DAY) == expected_bars(ticks, T0, T0 + DAY)


def test_two_schemas_of_one_database_migrate_and_dropping_one_keeps_the_other(
    target: Target,
) -> None:
    """The extension belongs to the database (schema public), not to a QTS schema; the
    aggregates' indexes do not collide across schemas."""
    pool = POOLS[target.mode]
    with pool.scratch() as first, pool.scratch() as second:
        one = open_database(first, target, migrate=True, min_size=1)
        two = open_database(second, target, migrate=True, min_size=1)
        try:
            PostgresMarketStore(two).ingest_ticks([Tick(T0, "005930", 70_000, 1)])
            one.close()
            with admin(target) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(first)))
                where = conn.execute(
                    "SELECT extnamespace::regnamespace::text FROM pg_extension "
                    "WHERE extname = 'timescaledb'"
                ).fetchone()
            assert where == (("public",) if target.timescale else None)
            got = PostgresMarketStore(two).ticks("005930", T0, T0 + DAY)
            assert [t.price for t in got] == [70_000]
        finally:
            one.close()
            two.close()


# ---------------------------------------------------------------- connections


def _kill(application_name: str, target: Target) -> int:
    """Terminate the backends of one application name from another connection."""
    with admin(target) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE application_name = %s AND state = 'idle in transaction'",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("when", ["before-a-write", "before-commit"])
def test_a_connection_killed_mid_transaction_writes_nothing(
    schema: str, target: Target, when: str
) -> None:
    name = f"qts_kill_{schema}"[:63]
    database = PostgresDatabase(
        make_conninfo(target.dsn, application_name=name),
        schema=schema,
        migrate=True,
        min_size=1,
        mode=target.mode,
    )
    store = PostgresStore(database)
    try:
        first = Order("Q1", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0)
        store.save_order(first)
        with pytest.raises(StorageError) as caught, store.transaction():
            store.save_order(Order("Q2", "005930", OrderSide.BUY, OrderType.MARKET, 2, T0))
            store.record_decisions([DecisionRecord(T0, "c1", "005930", "BUY")])
            assert _kill(name, target) == 1
            if when == "before-a-write":
                store.save_state("checkpoint", {"cycle": "c1"})
        assert "\n" not in str(caught.value)
        assert ("commit" if when == "before-commit" else "save_state checkpoint") in str(
            caught.value
        )
        # Nothing of the transaction is there, and the store goes on with a new connection.
        assert store.load_orders() == [first]
        assert store.load_decisions() == []
        assert store.load_state("checkpoint") is None
        store.save_state("checkpoint", {"cycle": "c2"})
        assert store.load_state("checkpoint") == {"cycle": "c2"}
    finally:
        store.close()


def test_threads_have_transactions_of_their_own(db: PostgresDatabase) -> None:
    store = PostgresStore(db)
    written, checked = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def other_thread() -> None:
        try:
            with store.transaction():
                store.save_state("a", {"from": "thread"})
                written.set()
                checked.wait(timeout=30)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert written.wait(timeout=30)
    with store.transaction():
        store.save_state("b", {"from": "main"})
        assert store.load_state("a") is None  # not committed by the other thread
    checked.set()
    thread.join()
    assert outcome == []
    assert store.load_state("a") is None
    assert store.load_state("b") == {"from": "main"}


def test_text_postgresql_cannot_hold_is_refused_without_aborting_the_block(
    db: PostgresDatabase,
) -> None:
    store = PostgresStore(db)
    with store.transaction():
        store.save_state("a", {"v": 1})
        with pytest.raises(StorageError, match="save_state"):
            store.save_state("b", {"text": "nul \x00 inside"})
        with pytest.raises(StorageError, match="save_order"):
            store.save_order(Order("Q\x00", "005930", OrderSide.BUY, OrderType.MARKET, 1, T0))
        store.save_state("c", {"v": 3})
    assert store.load_state("a") == {"v": 1}
    assert store.load_state("b") is None
    assert store.load_state("c") == {"v": 3}


def test_the_pool_is_bounded_and_reported(db: PostgresDatabase) -> None:
    store = PostgresStore(db)
    store.save_state("k", {"v": 1})
    pool = db.status()["pool"]
    assert pool["min_size"] == 1 and pool["max_size"] == 4
    assert 1 <= pool["size"] <= 4


# ---------------------------------------------------------------- TimescaleDB not preloaded

# A server that has TimescaleDB's files but not shared_preload_libraries = 'timescaledb' (a
# common setup, where CREATE EXTENSION is FATAL). docs/runbooks/postgres.md starts one.
UNLOADED = [Target("plain", dsn) for dsn in [os.environ.get("QTS_TEST_TSDB_UNLOADED_DSN")] if dsn]


@pytest.mark.parametrize("unloaded", UNLOADED, ids=lambda t: "unloaded")
def test_auto_mode_falls_back_to_plain_where_timescaledb_is_not_preloaded(
    unloaded: Target,
) -> None:
    with POOLS["plain"].scratch() as schema:
        db = PostgresDatabase(unloaded.dsn, schema=schema, migrate=True, min_size=1)
        try:
            assert db.version_and_mode() == (8, Mode.PLAIN)
            status = db.status()
            assert status["timescaledb"] == {"available": True, "installed": None}
            assert "not preloaded" in status["note"]
            assert "shared_preload_libraries = 'timescaledb'" in status["note"]
            store = PostgresMarketStore(db)  # the migrated schema works
            store.ingest_ticks([Tick(T0, "005930", 70_000, 1)])
            assert len(store.ohlcv_1m("005930", T0, T0 + DAY)) == 1
        finally:
            db.close()
            with admin(unloaded) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        # a fresh process (`qts db status`) says the same without having tried
        again = PostgresDatabase(unloaded.dsn, schema=schema, min_size=1)
        try:
            assert "not preloaded" in again.status()["note"]
        finally:
            again.close()
