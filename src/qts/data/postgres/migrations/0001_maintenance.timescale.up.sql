-- 0001 (TimescaleDB): hypertables, compression, retention and continuous aggregates are the
-- extension's own jobs, so this mode needs none of plain mode's partition machinery.
-- PostgresDatabase creates the extension when it detects it; this is a guard for psql users.
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Always false here: there are no default partitions to move rows out of.
CREATE FUNCTION qts_moving_rows() RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$ SELECT false $$;

-- Append-only tables: refuse UPDATE and DELETE (and TRUNCATE, by a statement trigger).
CREATE FUNCTION qts_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;
