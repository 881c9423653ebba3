-- The extension stays: it belongs to the database, and other schemas may use it.
DROP FUNCTION qts_append_only();
DROP FUNCTION qts_moving_rows();
