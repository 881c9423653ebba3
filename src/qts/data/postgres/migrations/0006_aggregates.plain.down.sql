DROP FUNCTION qts_refresh_aggregates(timestamptz, boolean);
DROP MATERIALIZED VIEW daily_pnl;
DELETE FROM aggregate_watermarks WHERE name IN ('ohlcv_1m', 'hourly_execution_metrics');
DELETE FROM partition_policies WHERE parent IN ('ohlcv_1m', 'hourly_execution_metrics');
DROP TABLE hourly_execution_metrics;
DROP TABLE ohlcv_1m;
