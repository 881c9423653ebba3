DELETE FROM partition_policies WHERE parent IN ('tick_data', 'execution_logs', 'feedback_data');
DROP TABLE feedback_data;
DROP TABLE execution_logs;
DROP TABLE ohlcv_1d;
DROP TABLE tick_data;
