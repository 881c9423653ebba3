DROP FUNCTION qts_append_only();
DROP FUNCTION qts_run_partition_maintenance(timestamptz);
DROP FUNCTION qts_ensure_partitions(text, timestamptz, timestamptz, integer);
DROP FUNCTION qts_ensure_partition(text, timestamptz);
DROP FUNCTION qts_moving_rows();
DROP FUNCTION qts_bucket_next(text, timestamptz);
DROP FUNCTION qts_bucket_floor(text, timestamptz);
DROP TABLE aggregate_watermarks;
DROP TABLE partition_policies;
