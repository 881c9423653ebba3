-- 0006 (TimescaleDB): continuous aggregates with refresh and retention policies.
-- Needs TimescaleDB >= 2.13: FILTER, percentile_cont and time zones in continuous aggregates.
-- materialized_only = false: the newest buckets (inside end_offset) are computed when read.
-- Bars: first()/last() break ties between ticks at the same instant as the engine finds them.

CREATE MATERIALIZED VIEW ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       symbol,
       first(price, time) AS open,
       max(price) AS high,
       min(price) AS low,
       last(price, time) AS close,
       sum(volume) AS volume
FROM tick_data
GROUP BY bucket, symbol
WITH NO DATA;
CREATE INDEX ohlcv_1m_symbol_bucket_ix ON ohlcv_1m (symbol, bucket);
SELECT add_continuous_aggregate_policy('ohlcv_1m',
    start_offset => INTERVAL '1 hour', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_retention_policy('ohlcv_1m', drop_after => INTERVAL '30 days');

CREATE MATERIALIZED VIEW hourly_execution_metrics
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
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
