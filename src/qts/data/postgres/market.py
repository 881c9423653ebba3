""":class:`~qts.data.market_ports.MarketDataStore` on PostgreSQL, plus the analytics only the
database computes (hourly execution metrics, daily PnL).

Ticks go in with binary COPY, tens of thousands per round trip. In plain mode the day
partitions a batch needs are created first (when the batch spans at most 62 days; anything
else lands in the default partition, which maintenance empties into partitions as it creates
them), and a batch older than the 1-minute bars' watermark lowers the watermark, so the late
ticks are read live at once and materialized by the next refresh.

1-minute bars are read as TimescaleDB reads a real-time continuous aggregate: materialized
buckets below the watermark, the rest aggregated from the ticks in the same query. Either way a
bar equals what the ticks say, in both modes the same (see :mod:`qts.data.market_ports` for the
tie rule). In TimescaleDB mode a batch below the continuous aggregate's watermark is noted in
``aggregate_late_rows`` and read live until :meth:`refresh_aggregates` covers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import KST
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
from qts.data.postgres import timescale
from qts.data.postgres.client import SchemaClient
from qts.data.postgres.database import Connection
from qts.data.postgres.migration_files import Mode

log = logging.getLogger(__name__)

_TICK_COLUMNS = "time, symbol, price, volume, bid, ask, source"
_COPY_TICKS = f"COPY tick_data ({_TICK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_TICK_TYPES = ["timestamptz", "text", "int8", "int8", "int8", "int8", "text"]
# Beyond this many days a batch is a back-fill: its rows go to the default partition.
_MAX_PARTITIONS_PER_BATCH = 62

# Where each mode starts computing an aggregate from the raw rows: plain mode materializes below
# its own watermark; TimescaleDB reads its continuous aggregate (which adds the buckets above the
# extension's watermark by itself) except from the earliest late row no refresh has covered yet.
_RAW_FROM = {
    Mode.PLAIN: (
        "(SELECT coalesce(watermark, '-infinity') FROM aggregate_watermarks WHERE name = '{}')"
    ),
    Mode.TIMESCALE: (
        "(SELECT coalesce(since, 'infinity') FROM aggregate_late_rows WHERE name = '{}')"
    ),
}
# The same bar expressions as both modes' aggregates (see the 0006 migrations for the tie rule).
_OHLCV_1M = (
    "SELECT bucket, open, high, low, close, volume::bigint FROM ohlcv_1m "
    "WHERE symbol = %(symbol)s AND bucket >= %(lo)s AND bucket < least(%(hi)s, {raw}) "
    "UNION ALL "
    "SELECT date_trunc('minute', time, 'UTC'), (array_agg(price ORDER BY time, price))[1], "
    "max(price), min(price), (array_agg(price ORDER BY time DESC, price DESC))[1], "
    "sum(volume)::bigint FROM tick_data "
    "WHERE symbol = %(symbol)s AND time >= greatest(%(lo)s, {raw}) "
    "AND time < %(hi)s GROUP BY 1 ORDER BY 1"
)
_METRICS_COLUMNS = (
    "bucket, stage, calls, success_count, failure_count, avg_latency_ms, p99_latency_ms"
)
_METRICS = (
    f"SELECT {_METRICS_COLUMNS} FROM ("
    f"SELECT {_METRICS_COLUMNS} FROM hourly_execution_metrics "
    "WHERE bucket >= %(lo)s AND bucket < least(%(hi)s, {raw}) "
    "UNION ALL "
    "SELECT date_trunc('hour', time, 'UTC'), stage, count(*), count(*) FILTER (WHERE success), "
    "count(*) FILTER (WHERE NOT success), avg(latency_ms), "
    "percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FROM execution_logs "
    "WHERE time >= greatest(%(lo)s, {raw}) "
    "AND time < %(hi)s GROUP BY 1, 2"
    ') AS metrics ORDER BY bucket, stage COLLATE "C"'
)
_OHLCV_1M_QUERY = {
    mode: _OHLCV_1M.format(raw=raw.format("ohlcv_1m")) for mode, raw in _RAW_FROM.items()
}
_METRICS_QUERY = {
    mode: _METRICS.format(raw=raw.format("hourly_execution_metrics"))
    for mode, raw in _RAW_FROM.items()
}


@dataclass(frozen=True, slots=True)
class ExecutionMetrics:
    """One hour of one execution stage: calls, outcomes and latency."""

    bucket: datetime
    stage: str
    calls: int
    success_count: int
    failure_count: int
    avg_latency_ms: float | None
    p99_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class DailyPnl:
    """One KST trading day of one symbol and strategy, from the ledger, in won."""

    day: date
    symbol: str
    strategy: str
    realized_pnl: int
    net_cash_flow: int
    fees: int
    trade_count: int


def _hour_ceiling(ts: datetime) -> datetime:
    floor = ts.replace(minute=0, second=0, microsecond=0)
    return floor if floor == ts else floor + timedelta(hours=1)


class PostgresMarketStore(SchemaClient):
    """:class:`~qts.data.market_ports.MarketDataStore` on one schema of a PostgreSQL database.

    ``db`` is a :class:`PostgresDatabase` to share (left open on close) or a DSN for a
    database of the store's own, as :class:`~qts.data.postgres.store.PostgresStore` takes it.
    Unlike the trading store it may be used from several threads at once (each call borrows a
    pool connection).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes what :class:`~qts.data.postgres.client.SchemaClient` takes."""
        self._known_days: set[tuple[date, date]] = set()
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ plumbing

    def _read(self, what: str, query: Any, params: Any = None) -> list[Any]:
        self._check_open()
        return self.db.read(what, query, params)

    def _checked(self, what: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        self._check_open()
        with self.db.guard(what):
            return check_range(start, end)

    def _at(self, value: datetime) -> datetime:
        return value.astimezone(self._tz)

    # ------------------------------------------------------------------ ticks and bars

    def ingest_ticks(self, ticks: Iterable[Tick]) -> int:
        """Append the ticks with one binary COPY, all or none."""
        self._check_open()
        with self.db.guard("ingest_ticks"):
            rows = list(tick_rows(ticks))
        if not rows:
            return 0
        first = min(rows, key=itemgetter(0))[0]
        last = max(rows, key=itemgetter(0))[0]
        plain = self.mode is Mode.PLAIN
        if plain:
            self._ensure_tick_partitions(first, last)

        def action(conn: Connection) -> None:
            with conn.cursor() as cursor, cursor.copy(_COPY_TICKS) as copy:
                copy.set_types(_TICK_TYPES)
                write = copy.write_row
                for row in rows:
                    write(row)
            # Ticks older than the materialized bars: read them live until re-materialized.
            if plain:
                floor = first.replace(second=0, microsecond=0)
                conn.execute(
                    "UPDATE aggregate_watermarks SET watermark = %s "
                    "WHERE name = 'ohlcv_1m' AND watermark > %s",
                    (floor, floor),
                )
            else:
                timescale.note_late_rows(conn, "ohlcv_1m", first, last)

        self.db.write("ingest_ticks", action)
        return len(rows)

    def _ensure_tick_partitions(self, first: datetime, last: datetime) -> None:
        days = (first.astimezone(KST).date(), last.astimezone(KST).date())
        if days in self._known_days or (days[1] - days[0]).days >= _MAX_PARTITIONS_PER_BATCH:
            return
        # Its own statement (a transaction of its own outside a caller's): the DDL lock on
        # tick_data is held for the creation only, not for the COPY. If the lock cannot be had
        # (a long reader), the ticks go to the default partition and maintenance moves them.
        try:
            self.db.execute(
                "ingest_ticks partitions",
                "SELECT count(*) FROM qts_ensure_partitions('tick_data', %s, %s, %s)",
                (first, last, _MAX_PARTITIONS_PER_BATCH),
            )
        except StorageError as exc:
            log.warning("%s; the ticks go to the default partition", exc)
            return
        if not self.db.in_transaction:  # a caller's rollback would undo the partitions
            self._known_days.add(days)

    def _tick(self, r: tuple[Any, ...]) -> Tick:
        return Tick(self._at(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])

    def latest_ticks(self, symbols: Sequence[str]) -> dict[str, Tick]:
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            self._check_open()
            return {}
        rows = self._read(
            "latest_ticks",
            "SELECT t.time, t.symbol, t.price, t.volume, t.bid, t.ask, t.source "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS s(symbol, n) "
            "CROSS JOIN LATERAL (SELECT * FROM tick_data d WHERE d.symbol = s.symbol "
            'ORDER BY d.time DESC, d.price DESC, d.volume DESC, d.source COLLATE "C" DESC '
            "LIMIT 1) AS t ORDER BY s.n",
            (wanted,),
        )
        return {r[1]: self._tick(r) for r in rows}

    def ticks(self, symbol: str, start: datetime, end: datetime) -> list[Tick]:
        lo, hi = self._checked("ticks", start, end)
        rows = self._read(
            "ticks",
            f"SELECT {_TICK_COLUMNS} FROM tick_data WHERE symbol = %s AND time >= %s "
            'AND time < %s ORDER BY time, price, volume, source COLLATE "C"',
            (symbol, lo, hi),
        )
        return [self._tick(r) for r in rows]

    def ohlcv_1m(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        lo, hi = self._checked("ohlcv_1m", start, end)
        params = {"symbol": symbol, "lo": minute_ceiling(lo), "hi": minute_ceiling(hi)}
        rows = self._read("ohlcv_1m", _OHLCV_1M_QUERY[self.mode], params)
        return [Bar(self._at(r[0]), symbol, r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def save_ohlcv_1d(self, bars: Iterable[Bar]) -> None:
        self._check_open()
        with self.db.guard("save_ohlcv_1d"):
            rows = [bar_row(b) for b in bars]
        if not rows:
            return
        self.db.write(
            "save_ohlcv_1d",
            lambda c: c.cursor().executemany(
                "INSERT INTO ohlcv_1d (time, symbol, open, high, low, close, volume) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (symbol, time) DO UPDATE SET "
                "open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, "
                "close = EXCLUDED.close, volume = EXCLUDED.volume",
                rows,
            ),
        )

    def ohlcv_1d(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        lo, hi = self._checked("ohlcv_1d", start, end)
        rows = self._read(
            "ohlcv_1d",
            "SELECT time, symbol, open, high, low, close, volume FROM ohlcv_1d "
            "WHERE symbol = %s AND time >= %s AND time < %s ORDER BY time",
            (symbol, lo, hi),
        )
        return [Bar(self._at(r[0]), *r[1:]) for r in rows]

    # ------------------------------------------------------------------ execution analytics

    def record_execution_logs(self, rows: Iterable[ExecutionLog]) -> None:
        self._check_open()
        with self.db.guard("record_execution_logs"):
            values = [execution_log_row(r) for r in rows]
        if not values:
            return
        first = min(values, key=itemgetter(0))[0]
        last = max(values, key=itemgetter(0))[0]
        plain = self.mode is Mode.PLAIN

        def action(conn: Connection) -> None:
            conn.cursor().executemany(
                "INSERT INTO execution_logs (time, order_id, symbol, stage, latency_ms, success, "
                "error_code) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                values,
            )
            if plain:
                floor = first.replace(minute=0, second=0, microsecond=0)
                conn.execute(
                    "UPDATE aggregate_watermarks SET watermark = %s "
                    "WHERE name = 'hourly_execution_metrics' AND watermark > %s",
                    (floor, floor),
                )
            else:
                timescale.note_late_rows(conn, "hourly_execution_metrics", first, last)

        self.db.write("record_execution_logs", action)

    def execution_logs(
        self, start: datetime, end: datetime, order_id: str | None = None
    ) -> list[ExecutionLog]:
        lo, hi = self._checked("execution_logs", start, end)
        query = (
            "SELECT time, order_id, symbol, stage, success, latency_ms, error_code "
            "FROM execution_logs WHERE time >= %s AND time < %s"
        )
        params: tuple[Any, ...] = (lo, hi)
        if order_id is not None:
            query += " AND order_id = %s"
            params += (order_id,)
        rows = self._read(
            "execution_logs",
            query + ' ORDER BY time, order_id COLLATE "C", stage COLLATE "C"',
            params,
        )
        return [ExecutionLog(self._at(r[0]), *r[1:]) for r in rows]

    def record_feedback(self, rows: Iterable[FeedbackRow]) -> None:
        self._check_open()
        with self.db.guard("record_feedback"):
            values = [feedback_row(r) for r in rows]
        if not values:
            return
        self.db.write(
            "record_feedback",
            lambda c: c.cursor().executemany(
                "INSERT INTO feedback_data (time, symbol, order_id, strategy_tag, slippage_bps, "
                "fill_latency_ms, fill_ratio, quality_score, market_impact_bps) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                values,
            ),
        )

    def feedback(
        self, start: datetime, end: datetime, symbol: str | None = None
    ) -> list[FeedbackRow]:
        lo, hi = self._checked("feedback", start, end)
        query = (
            "SELECT time, symbol, order_id, slippage_bps, fill_latency_ms, fill_ratio, "
            "quality_score, market_impact_bps, strategy_tag FROM feedback_data "
            "WHERE time >= %s AND time < %s"
        )
        params: tuple[Any, ...] = (lo, hi)
        if symbol is not None:
            query += " AND symbol = %s"
            params += (symbol,)
        rows = self._read("feedback", query + ' ORDER BY time, order_id COLLATE "C"', params)
        return [FeedbackRow(self._at(r[0]), *r[1:]) for r in rows]

    def hourly_execution_metrics(self, start: datetime, end: datetime) -> list[ExecutionMetrics]:
        """Per hour and stage: calls, successes, failures, mean and p99 latency; hours that
        start in [start, end), materialized or computed from the logs as the bars are."""
        lo, hi = self._checked("hourly_execution_metrics", start, end)
        rows = self._read(
            "hourly_execution_metrics",
            _METRICS_QUERY[self.mode],
            {"lo": _hour_ceiling(lo), "hi": _hour_ceiling(hi)},
        )
        return [
            ExecutionMetrics(self._at(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), r[5], r[6])
            for r in rows
        ]

    def daily_pnl(self, first_day: date, last_day: date) -> list[DailyPnl]:
        """Realized PnL, net cash flow, fees and fills per KST day from first_day to last_day
        (both included), per symbol and strategy; as of the last refresh in plain mode."""
        self._check_open()
        start = datetime.combine(first_day, datetime.min.time(), tzinfo=KST)
        end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=KST)
        rows = self._read(
            "daily_pnl",
            "SELECT bucket, symbol, strategy, realized_pnl, net_cash_flow, fees, trade_count "
            "FROM daily_pnl WHERE bucket >= %s AND bucket < %s "
            'ORDER BY bucket, symbol COLLATE "C", strategy COLLATE "C"',
            (start, end),
        )
        return [
            DailyPnl(
                r[0].astimezone(KST).date(), r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6])
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ reference tables

    def save_strategy_params(self, params: Iterable[StrategyParam]) -> None:
        self._check_open()
        with self.db.guard("save_strategy_params"):
            rows = [strategy_row(p) for p in params]
        if not rows:
            return
        self.db.write(
            "save_strategy_params",
            lambda c: c.cursor().executemany(
                "INSERT INTO strategies (strategy_id, param_name, value, value_type, "
                "description, updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (strategy_id, param_name) DO UPDATE SET value = EXCLUDED.value, "
                "value_type = EXCLUDED.value_type, description = EXCLUDED.description, "
                "updated_at = EXCLUDED.updated_at",
                rows,
            ),
        )

    def strategy_params(self, strategy_id: str | None = None) -> list[StrategyParam]:
        query = (
            "SELECT strategy_id, param_name, value, updated_at, value_type, description "
            "FROM strategies"
        )
        params: tuple[Any, ...] = ()
        if strategy_id is not None:
            query += " WHERE strategy_id = %s"
            params = (strategy_id,)
        rows = self._read(
            "strategy_params",
            query + ' ORDER BY strategy_id COLLATE "C", param_name COLLATE "C"',
            params,
        )
        return [StrategyParam(r[0], r[1], r[2], self._at(r[3]), r[4], r[5]) for r in rows]

    def delete_strategy_params(self, strategy_id: str, param_name: str | None = None) -> int:
        self._check_open()
        query = "DELETE FROM strategies WHERE strategy_id = %s"
        params: tuple[Any, ...] = (strategy_id,)
        if param_name is not None:
            query += " AND param_name = %s"
            params += (param_name,)
        return self.db.write("delete_strategy_params", lambda c: c.execute(query, params).rowcount)

    def save_risk_configs(self, configs: Iterable[RiskConfig]) -> None:
        self._check_open()
        with self.db.guard("save_risk_configs"):
            rows = [risk_row(r) for r in configs]
        if not rows:
            return
        self.db.write(
            "save_risk_configs",
            lambda c: c.cursor().executemany(
                "INSERT INTO risk_configs (config_key, value, description, updated_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (config_key) DO UPDATE SET "
                "value = EXCLUDED.value, description = EXCLUDED.description, "
                "updated_at = EXCLUDED.updated_at",
                rows,
            ),
        )

    def risk_configs(self) -> dict[str, RiskConfig]:
        rows = self._read(
            "risk_configs",
            "SELECT config_key, value, updated_at, description FROM risk_configs "
            'ORDER BY config_key COLLATE "C"',
        )
        return {r[0]: RiskConfig(r[0], Decimal(r[1]), self._at(r[2]), r[3]) for r in rows}

    def delete_risk_config(self, config_key: str) -> bool:
        self._check_open()
        return self.db.write(
            "delete_risk_config",
            lambda c: (
                c.execute("DELETE FROM risk_configs WHERE config_key = %s", (config_key,)).rowcount
                > 0
            ),
        )

    # ------------------------------------------------------------------ lifecycle

    def run_maintenance(self, now: datetime) -> dict[str, Any]:
        """Partitions (or chunks) created and dropped, aggregates refreshed, as of ``now``."""
        self._check_open()
        with self.db.guard("run_maintenance"):
            check_time(now, "now")
        self._known_days.clear()  # partitions may have been dropped
        return self.db.run_maintenance(now)

    def refresh_aggregates(self, now: datetime, *, full: bool = False) -> list[dict[str, Any]]:
        self._check_open()
        return self.db.refresh_aggregates(now, full=full)

    def status(self) -> dict[str, Any]:
        self._check_open()
        return self.db.status()

    def __enter__(self) -> PostgresMarketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _implements_port(store: PostgresMarketStore) -> MarketDataStore:
    """Never called: makes mypy prove that PostgresMarketStore satisfies the port."""
    return store
