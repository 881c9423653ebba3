-- 0006 (TimescaleDB): continuous aggregates with refresh and retention policies.
-- Needs TimescaleDB >= 2.13: FILTER, ORDER BY inside aggregates, percentile_cont and time zones
-- in continuous aggregates.
-- materialized_only = false: the newest buckets (above the watermark) are computed when read.
-- No index is named here: TimescaleDB puts the materialization's indexes in its own schema,
-- shared by every QTS schema of the database, and makes one on (symbol, bucket) by itself.
--
-- Bars: open is the price of the earliest tick, close of the latest; ticks at the same instant
-- are ordered by price, so open takes the lowest and close the highest of them. The same
-- expressions as plain mode's, so both modes give the same bars for the same ticks.

-- Chunks of a day (plain mode's partitions), so that retention drops bars a day at a time.
CREATE MATERIALIZED VIEW ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '1 day') AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       symbol,
       (array_agg(price ORDER BY time, price))[1] AS open,
       max(price) AS high,
       min(price) AS low,
       (array_agg(price ORDER BY time DESC, price DESC))[1] AS close,
       sum(volume) AS volume
FROM tick_data
GROUP BY bucket, symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('ohlcv_1m',
    start_offset => INTERVAL '1 hour', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_retention_policy('ohlcv_1m', drop_after => INTERVAL '30 days');

CREATE MATERIALIZED VIEW hourly_execution_metrics
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '30 days') AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       stage,
       count(*) AS calls,
       count(*) FILTER (WHERE success) AS success_count,
       count(*) FILTER (WHERE NOT success) AS failure_count,
       avg(latency_ms) AS avg_latency_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_latency_ms
FROM execution_logs
GROUP BY bucket, stage
WITH NO DATA;
SELECT add_continuous_aggregate_policy('hourly_execution_metrics',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour');
SELECT add_retention_policy('hourly_execution_metrics', drop_after => INTERVAL '180 days');

-- One row per KST trading day, symbol and strategy: realized PnL (the ledger's pnl), the net
-- cash flow (what the doc called realized_pnl), fees, and the number of fills.
CREATE MATERIALIZED VIEW daily_pnl
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', ts, 'Asia/Seoul') AS bucket,
       symbol,
       strategy,
       sum(pnl) AS realized_pnl,
       sum(net_amount) AS net_cash_flow,
       sum(commission + tax) AS fees,
       count(*) AS trade_count
FROM t_ledger
GROUP BY bucket, symbol, strategy
WITH NO DATA;
SELECT add_continuous_aggregate_policy('daily_pnl',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 day');

-- Rows written below an aggregate's watermark (late ticks, back-filled logs) are invisible in a
-- continuous aggregate until a refresh covers them, and the policies only refresh the recent
-- window. The writers note here the span of such rows; readers compute that span from the raw
-- rows, and PostgresDatabase.refresh_aggregates refreshes it and clears the note (version: a
-- write that came in meanwhile keeps its note).
CREATE TABLE aggregate_late_rows (
    name    text PRIMARY KEY,
    since   timestamptz,
    until   timestamptz,
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO aggregate_late_rows (name) VALUES ('ohlcv_1m'), ('hourly_execution_metrics');

-- The time below which a continuous aggregate of this schema is materialized (NULL: nothing is).
CREATE FUNCTION qts_cagg_watermark(view_name text) RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path FROM CURRENT
AS $$
    SELECT CASE WHEN w.ts >= '0001-01-01 00:00:00+00' THEN w.ts END  -- the minimum: none
    FROM _timescaledb_catalog.continuous_agg c,
         LATERAL (SELECT _timescaledb_functions.to_timestamp(
                      _timescaledb_functions.cagg_watermark(c.mat_hypertable_id)) AS ts) AS w
    WHERE c.user_view_schema = current_schema() AND c.user_view_name = view_name
$$;

-- Note rows of [lo, hi) written to the source of view_name, if they are below its watermark.
CREATE FUNCTION qts_note_late_rows(view_name text, lo timestamptz, hi timestamptz)
RETURNS void
LANGUAGE sql
SET search_path FROM CURRENT
AS $$
    UPDATE aggregate_late_rows
    SET since = least(coalesce(since, lo), lo), until = greatest(coalesce(until, hi), hi),
        version = version + 1
    WHERE name = view_name AND lo < coalesce(qts_cagg_watermark(view_name), '-infinity')
$$;
