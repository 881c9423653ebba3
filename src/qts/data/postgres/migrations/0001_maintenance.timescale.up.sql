-- 0001 (TimescaleDB): hypertables, compression, retention and continuous aggregates are the
-- extension's own jobs, so this mode needs none of plain mode's partition machinery.
-- PostgresDatabase creates the extension (in schema public) before this runs; this is a guard
-- for psql users. Never in the QTS schema: the extension belongs to the whole database, and
-- DROP SCHEMA qts CASCADE would take it (and every other schema's hypertables) with it.
CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public;

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
