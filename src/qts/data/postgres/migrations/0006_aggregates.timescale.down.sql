DROP FUNCTION qts_note_late_rows(text, timestamptz, timestamptz);
DROP FUNCTION qts_cagg_watermark(text);
DROP TABLE aggregate_late_rows;
DROP MATERIALIZED VIEW daily_pnl;
DROP MATERIALIZED VIEW hourly_execution_metrics;
DROP MATERIALIZED VIEW ohlcv_1m;
