SELECT remove_retention_policy('feedback_data', if_exists => true);
SELECT remove_compression_policy('feedback_data', if_exists => true);
SELECT remove_retention_policy('execution_logs', if_exists => true);
SELECT remove_retention_policy('tick_data', if_exists => true);
SELECT remove_compression_policy('tick_data', if_exists => true);
DROP TABLE feedback_data;
DROP TABLE execution_logs;
DROP TABLE ohlcv_1d;
DROP TABLE tick_data;
