""":class:`~qts.data.market_ports.MarketDataStore` on SQLite: the embedded default, and the
reference the PostgreSQL adapter is checked against.

It may share the file of a :class:`~qts.data.sqlite.SqliteStore` (its tables and its
``market_schema_version`` table do not collide) or have its own. Tables are STRICT; timestamps
are fixed-width UTC ISO text, so text order is time order and the first 16 characters name the
minute: 1-minute bars are a GROUP BY over the ticks (the ``ohlcv_1m`` view; the reader runs the
same aggregate with a time range the index can use). SQLite keeps no bars of its own, so bars
live as long as their ticks (7 days), where PostgreSQL keeps them 30.

The value checks and row tuples are shared with the PostgreSQL adapter
(:mod:`qts.data.market_rows`), so both accept and refuse the same calls.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import KST, from_iso
from qts.data.market_ports import (
    Bar,
    ExecutionLog,
    FeedbackRow,
    MarketDataStore,
    RiskConfig,
    StrategyParam,
    Tick,
)
from qts.data.market_rows import (
    bar_row,
    check_range,
    check_time,
    execution_log_row,
    feedback_row,
    minute_ceiling,
    risk_row,
    strategy_row,
    tick_rows,
)

_ERRORS = (sqlite3.Error, ValueError, TypeError, OverflowError, AttributeError)

# Retention of the raw tables, as the spec sets it (decisions.md, "Data layer").
RETENTION: dict[str, timedelta] = {
    "tick_data": timedelta(days=7),
    "execution_logs": timedelta(days=90),
    "feedback_data": timedelta(days=180),
}

# ------------------------------------------------------------------ SQLite schema

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE tick_data (
            time TEXT NOT NULL,
            symbol TEXT NOT NULL,
            price INTEGER NOT NULL CHECK (price > 0),
            volume INTEGER NOT NULL CHECK (volume >= 0),
            bid INTEGER,
            ask INTEGER,
            source TEXT NOT NULL
        ) STRICT""",
        # latest tick of a symbol; a symbol's ticks and bars over a time range
        "CREATE INDEX tick_data_symbol_time_ix ON tick_data (symbol, time)",
        # first/last by (time, price): the price is appended zero-padded to the fixed-width time
        """CREATE VIEW ohlcv_1m AS
            SELECT symbol, substr(time, 1, 16) AS bucket,
                CAST(substr(min(time || printf('%020d', price)), 33) AS INTEGER) AS open,
                max(price) AS high, min(price) AS low,
                CAST(substr(max(time || printf('%020d', price)), 33) AS INTEGER) AS close,
                sum(volume) AS volume
            FROM tick_data GROUP BY symbol, bucket""",
        """CREATE TABLE ohlcv_1d (
            time TEXT NOT NULL,
            symbol TEXT NOT NULL,
            open INTEGER NOT NULL,
            high INTEGER NOT NULL,
            low INTEGER NOT NULL,
            close INTEGER NOT NULL,
            volume INTEGER NOT NULL CHECK (volume >= 0),
            PRIMARY KEY (symbol, time)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE execution_logs (
            time TEXT NOT NULL,
            order_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            stage TEXT NOT NULL,
            latency_ms REAL,
            success INTEGER NOT NULL CHECK (success IN (0, 1)),
            error_code TEXT
        ) STRICT""",
        "CREATE INDEX execution_logs_time_ix ON execution_logs (time)",
        "CREATE INDEX execution_logs_order_ix ON execution_logs (order_id, time)",
        """CREATE TABLE feedback_data (
            time TEXT NOT NULL,
            symbol TEXT NOT NULL,
            order_id TEXT NOT NULL,
            strategy_tag TEXT NOT NULL,
            slippage_bps REAL NOT NULL,
            fill_latency_ms REAL NOT NULL,
            fill_ratio REAL NOT NULL CHECK (fill_ratio BETWEEN 0 AND 1),
            quality_score REAL NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
            market_impact_bps REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX feedback_data_time_ix ON feedback_data (time)",
        "CREATE INDEX feedback_data_symbol_time_ix ON feedback_data (symbol, time)",
        """CREATE TABLE strategies (
            strategy_id TEXT NOT NULL,
            param_name TEXT NOT NULL,
            value TEXT NOT NULL,
            value_type TEXT NOT NULL,
            description TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (strategy_id, param_name)
        ) STRICT, WITHOUT ROWID""",
        # numeric(18, 8) has no SQLite type: the exact decimal text
        """CREATE TABLE risk_configs (
            config_key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            description TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_OHLCV_1M = (
    "SELECT substr(time, 1, 16) AS bucket, "
    "CAST(substr(min(time || printf('%020d', price)), 33) AS INTEGER), "
    "max(price), min(price), "
    "CAST(substr(max(time || printf('%020d', price)), 33) AS INTEGER), "
    "sum(volume) FROM tick_data WHERE symbol = ? AND time >= ? AND time < ? "
    "GROUP BY bucket ORDER BY bucket"
)
_TICK_COLUMNS = "time, symbol, price, volume, bid, ask, source"


def _utc(value: datetime) -> str:
    """SqliteStore's spelling of an instant (not cached: tick times rarely repeat)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteMarketStore:
    """:class:`~qts.data.market_ports.MarketDataStore` on one SQLite database (``":memory:"``
    for backtests). Used from the thread that opened it, as SqliteStore."""

    def __init__(self, path: str | Path, *, durable: bool = True, tz: tzinfo = KST) -> None:
        self.path = str(path)
        self._tz = tz
        self._closed = False
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite {self.path}: cannot open: {exc}") from exc
        try:
            with self._guard("configure"):
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                self._conn.execute("PRAGMA busy_timeout = 5000")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    @property
    def closed(self) -> bool:
        return self._closed

    def _error(self, what: str, exc: BaseException | str) -> StorageError:
        return StorageError(f"sqlite {self.path}: {what}: {exc}")

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        if self._closed:
            raise StorageError(f"sqlite {self.path}: store is closed")
        try:
            yield
        except StorageError:
            raise
        except _ERRORS as exc:
            raise self._error(what, exc) from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._guard(what):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._guard("migrate"):
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS market_schema_version "
                "(version INTEGER PRIMARY KEY) STRICT"
            )
            (current,) = self._conn.execute(
                "SELECT coalesce(max(version), 0) FROM market_schema_version"
            ).fetchone()
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"sqlite {self.path}: market schema version {current} is newer than this QTS "
                f"supports ({SCHEMA_VERSION}); upgrade QTS"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._transaction(f"migration {version}") as conn:
                if conn.execute(
                    "SELECT 1 FROM market_schema_version WHERE version = ?", (version,)
                ).fetchone():
                    continue
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO market_schema_version (version) VALUES (?)", (version,))

    def _at(self, text: str) -> datetime:
        return from_iso(text).astimezone(self._tz)

    def _read(self, what: str, query: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._guard(what):
            return self._conn.execute(query, params).fetchall()

    # ------------------------------------------------------------------ ticks and bars

    def ingest_ticks(self, ticks: Iterable[Tick]) -> int:
        count = 0

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal count
            for time, symbol, price, volume, bid, ask, source in tick_rows(ticks):
                count += 1
                yield (_utc(time), symbol, price, volume, bid, ask, source)

        with self._transaction("ingest_ticks") as conn:
            conn.executemany(
                f"INSERT INTO tick_data ({_TICK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows()
            )
        return count

    def _tick(self, r: tuple[Any, ...]) -> Tick:
        return Tick(self._at(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])

    def latest_ticks(self, symbols: Sequence[str]) -> dict[str, Tick]:
        out: dict[str, Tick] = {}
        for symbol in dict.fromkeys(symbols):
            rows = self._read(
                "latest_ticks",
                f"SELECT {_TICK_COLUMNS} FROM tick_data WHERE symbol = ? "
                "ORDER BY time DESC, price DESC, volume DESC, source DESC LIMIT 1",
                (symbol,),
            )
            if rows:
                out[symbol] = self._tick(rows[0])
        return out

    def ticks(self, symbol: str, start: datetime, end: datetime) -> list[Tick]:
        with self._guard("ticks"):
            lo, hi = check_range(start, end)
        rows = self._read(
            "ticks",
            f"SELECT {_TICK_COLUMNS} FROM tick_data WHERE symbol = ? AND time >= ? AND time < ? "
            "ORDER BY time, price, volume, source",
            (symbol, _utc(lo), _utc(hi)),
        )
        return [self._tick(r) for r in rows]

    def ohlcv_1m(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        with self._guard("ohlcv_1m"):
            lo, hi = check_range(start, end)
        # Whole minutes only: a bar whose minute starts in [start, end) takes all its ticks.
        rows = self._read(
            "ohlcv_1m",
            _OHLCV_1M,
            (symbol, _utc(minute_ceiling(lo)), _utc(minute_ceiling(hi))),
        )
        tz = self._tz
        return [
            Bar(
                datetime.fromisoformat(r[0] + ":00+00:00").astimezone(tz),
                symbol,
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
            )
            for r in rows
        ]

    def save_ohlcv_1d(self, bars: Iterable[Bar]) -> None:
        with self._guard("save_ohlcv_1d"):
            rows = [(_utc(r[0]), *r[1:]) for r in map(bar_row, bars)]
        with self._transaction("save_ohlcv_1d") as conn:
            conn.executemany(
                "INSERT INTO ohlcv_1d (time, symbol, open, high, low, close, volume) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (symbol, time) DO UPDATE SET "
                "open = excluded.open, high = excluded.high, low = excluded.low, "
                "close = excluded.close, volume = excluded.volume",
                rows,
            )

    def ohlcv_1d(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        with self._guard("ohlcv_1d"):
            lo, hi = check_range(start, end)
        rows = self._read(
            "ohlcv_1d",
            "SELECT time, symbol, open, high, low, close, volume FROM ohlcv_1d "
            "WHERE symbol = ? AND time >= ? AND time < ? ORDER BY time",
            (symbol, _utc(lo), _utc(hi)),
        )
        return [Bar(self._at(r[0]), *r[1:]) for r in rows]

    # ------------------------------------------------------------------ execution analytics

    def record_execution_logs(self, rows: Iterable[ExecutionLog]) -> None:
        with self._guard("record_execution_logs"):
            values = [
                (_utc(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6])
                for r in map(execution_log_row, rows)
            ]
        with self._transaction("record_execution_logs") as conn:
            conn.executemany(
                "INSERT INTO execution_logs (time, order_id, symbol, stage, latency_ms, "
                "success, error_code) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def execution_logs(
        self, start: datetime, end: datetime, order_id: str | None = None
    ) -> list[ExecutionLog]:
        with self._guard("execution_logs"):
            lo, hi = check_range(start, end)
        query = (
            "SELECT time, order_id, symbol, stage, success, latency_ms, error_code "
            "FROM execution_logs WHERE time >= ? AND time < ?"
        )
        params: tuple[Any, ...] = (_utc(lo), _utc(hi))
        if order_id is not None:
            query += " AND order_id = ?"
            params += (order_id,)
        rows = self._read("execution_logs", query + " ORDER BY time, order_id, stage", params)
        return [
            ExecutionLog(self._at(r[0]), r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows
        ]

    def record_feedback(self, rows: Iterable[FeedbackRow]) -> None:
        with self._guard("record_feedback"):
            values = [(_utc(r[0]), *r[1:]) for r in map(feedback_row, rows)]
        with self._transaction("record_feedback") as conn:
            conn.executemany(
                "INSERT INTO feedback_data (time, symbol, order_id, strategy_tag, slippage_bps, "
                "fill_latency_ms, fill_ratio, quality_score, market_impact_bps) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def feedback(
        self, start: datetime, end: datetime, symbol: str | None = None
    ) -> list[FeedbackRow]:
        with self._guard("feedback"):
            lo, hi = check_range(start, end)
        query = (
            "SELECT time, symbol, order_id, slippage_bps, fill_latency_ms, fill_ratio, "
            "quality_score, market_impact_bps, strategy_tag FROM feedback_data "
            "WHERE time >= ? AND time < ?"
        )
        params: tuple[Any, ...] = (_utc(lo), _utc(hi))
        if symbol is not None:
            query += " AND symbol = ?"
            params += (symbol,)
        rows = self._read("feedback", query + " ORDER BY time, order_id", params)
        return [FeedbackRow(self._at(r[0]), *r[1:]) for r in rows]

    # ------------------------------------------------------------------ reference tables

    def save_strategy_params(self, params: Iterable[StrategyParam]) -> None:
        with self._guard("save_strategy_params"):
            rows = [(*r[:5], _utc(r[5])) for r in map(strategy_row, params)]
        with self._transaction("save_strategy_params") as conn:
            conn.executemany(
                "INSERT INTO strategies (strategy_id, param_name, value, value_type, "
                "description, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (strategy_id, param_name) DO UPDATE SET value = excluded.value, "
                "value_type = excluded.value_type, description = excluded.description, "
                "updated_at = excluded.updated_at",
                rows,
            )

    def strategy_params(self, strategy_id: str | None = None) -> list[StrategyParam]:
        query = (
            "SELECT strategy_id, param_name, value, updated_at, value_type, description "
            "FROM strategies"
        )
        params: tuple[Any, ...] = ()
        if strategy_id is not None:
            query += " WHERE strategy_id = ?"
            params = (strategy_id,)
        rows = self._read("strategy_params", query + " ORDER BY strategy_id, param_name", params)
        return [StrategyParam(r[0], r[1], r[2], self._at(r[3]), r[4], r[5]) for r in rows]

    def delete_strategy_params(self, strategy_id: str, param_name: str | None = None) -> int:
        query = "DELETE FROM strategies WHERE strategy_id = ?"
        params: tuple[Any, ...] = (strategy_id,)
        if param_name is not None:
            query += " AND param_name = ?"
            params += (param_name,)
        with self._transaction("delete_strategy_params") as conn:
            return conn.execute(query, params).rowcount

    def save_risk_configs(self, configs: Iterable[RiskConfig]) -> None:
        with self._guard("save_risk_configs"):
            rows = [(r[0], format(r[1], "f"), r[2], _utc(r[3])) for r in map(risk_row, configs)]
        with self._transaction("save_risk_configs") as conn:
            conn.executemany(
                "INSERT INTO risk_configs (config_key, value, description, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (config_key) DO UPDATE SET "
                "value = excluded.value, description = excluded.description, "
                "updated_at = excluded.updated_at",
                rows,
            )

    def risk_configs(self) -> dict[str, RiskConfig]:
        rows = self._read(
            "risk_configs",
            "SELECT config_key, value, updated_at, description FROM risk_configs "
            "ORDER BY config_key",
        )
        return {r[0]: RiskConfig(r[0], Decimal(r[1]), self._at(r[2]), r[3]) for r in rows}

    def delete_risk_config(self, config_key: str) -> bool:
        with self._transaction("delete_risk_config") as conn:
            cursor = conn.execute("DELETE FROM risk_configs WHERE config_key = ?", (config_key,))
            return cursor.rowcount > 0

    # ------------------------------------------------------------------ lifecycle

    def run_maintenance(self, now: datetime) -> dict[str, Any]:
        """Delete the rows older than their retention as of ``now``; bars are a view."""
        with self._guard("run_maintenance"):
            now = check_time(now, "now")
        deleted: dict[str, int] = {}
        with self._transaction("run_maintenance") as conn:
            for table, keep in RETENTION.items():
                cursor = conn.execute(f"DELETE FROM {table} WHERE time < ?", (_utc(now - keep),))
                if cursor.rowcount:
                    deleted[table] = cursor.rowcount
        return {"mode": "sqlite", "created": [], "dropped": [], "deleted": deleted}

    def close(self) -> None:
        """Close the connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._conn.close()

    def __enter__(self) -> SqliteMarketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: SqliteMarketStore) -> MarketDataStore:
    """Never called: makes mypy prove that SqliteMarketStore satisfies the port."""
    return store
