-- 0001 (plain PostgreSQL): the machinery that stands in for TimescaleDB.
--
-- Time-series tables are declared PARTITION BY RANGE on their time column, each with a DEFAULT
-- partition so that a row is never refused for want of a partition. partition_policies says
-- how each is cut (day, week or month, aligned on midnight Asia/Seoul), how many partitions to
-- create ahead, and after how long a whole partition is dropped. qts_run_partition_maintenance
-- (called by the scheduler through PostgresDatabase.run_maintenance) applies the policies.

CREATE TABLE partition_policies (
    parent      text PRIMARY KEY,
    column_name text NOT NULL,
    unit        text NOT NULL CHECK (unit IN ('day', 'week', 'month')),
    retention   interval,                 -- NULL: kept forever
    premake     integer NOT NULL CHECK (premake >= 0)
);

-- Incrementally maintained aggregates: buckets before the watermark are materialized, the rest
-- is computed from the raw rows when read (what TimescaleDB calls real-time aggregation).
CREATE TABLE aggregate_watermarks (
    name      text PRIMARY KEY,
    watermark timestamptz
);

-- The start of the partition that holds ts.
CREATE FUNCTION qts_bucket_floor(unit text, ts timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE
AS $$ SELECT date_trunc(unit, ts, 'Asia/Seoul') $$;

-- The start of the next partition after the one starting at lo.
CREATE FUNCTION qts_bucket_next(unit text, lo timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE
AS $$ SELECT ((lo AT TIME ZONE 'Asia/Seoul') + ('1 ' || unit)::interval) AT TIME ZONE 'Asia/Seoul' $$;

-- Row triggers that guard append-only tables step aside only while rows are moved out of a
-- default partition into a new partition (qts_ensure_partition), inside that one transaction.
CREATE FUNCTION qts_moving_rows() RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT coalesce(current_setting('qts.moving_rows', true), '') = 'on' $$;

-- Create the partition of parent that holds ts, unless it exists. Rows of that range already in
-- the default partition are moved into it. Returns the new partition's name, or NULL.
CREATE FUNCTION qts_ensure_partition(parent_table text, ts timestamptz) RETURNS text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    pol  partition_policies;
    lo   timestamptz;
    hi   timestamptz;
    part text;
    dflt text := parent_table || '_default';
    has_rows boolean;
BEGIN
    SELECT * INTO STRICT pol FROM partition_policies p WHERE p.parent = parent_table;
    lo := qts_bucket_floor(pol.unit, ts);
    hi := qts_bucket_next(pol.unit, lo);
    part := parent_table || '_p' || to_char(lo AT TIME ZONE 'Asia/Seoul', 'YYYYMMDD');
    IF EXISTS (SELECT 1 FROM pg_class c
               WHERE c.relname = part AND c.relnamespace = current_schema()::regnamespace) THEN
        RETURN NULL;
    END IF;
    -- Wait for running writers briefly rather than queueing every reader behind this DDL.
    PERFORM set_config('lock_timeout', '5s', true);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                   dflt, pol.column_name, pol.column_name)
        INTO has_rows USING lo, hi;
    IF has_rows THEN
        PERFORM set_config('qts.moving_rows', 'on', true);
        EXECUTE format('CREATE TEMP TABLE qts_moving (LIKE %I) ON COMMIT DROP', parent_table);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                       'INSERT INTO qts_moving SELECT * FROM moved',
                       dflt, pol.column_name, pol.column_name) USING lo, hi;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   part, parent_table, lo, hi);
    IF has_rows THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM qts_moving', parent_table);
        DROP TABLE qts_moving;
        PERFORM set_config('qts.moving_rows', 'off', true);
    END IF;
    RETURN part;
END
$$;

-- Create the partitions of parent for every bucket from lo to hi (both included), at most
-- max_count of them; returns the names created.
CREATE FUNCTION qts_ensure_partitions(parent_table text, lo timestamptz, hi timestamptz,
                                      max_count integer DEFAULT 62)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    pol   partition_policies;
    start timestamptz;
    made  text;
    n     integer := 0;
BEGIN
    SELECT * INTO STRICT pol FROM partition_policies p WHERE p.parent = parent_table;
    start := qts_bucket_floor(pol.unit, lo);
    WHILE start <= hi AND n < max_count LOOP
        made := qts_ensure_partition(parent_table, start);
        IF made IS NOT NULL THEN
            RETURN NEXT made;
        END IF;
        start := qts_bucket_next(pol.unit, start);
        n := n + 1;
    END LOOP;
END
$$;

-- Apply every policy as of now: create the current and the next `premake` partitions, drop
-- whole partitions that ended `retention` before now, and delete expired rows that landed in a
-- default partition. Returns one row per action.
CREATE FUNCTION qts_run_partition_maintenance(now_ts timestamptz)
RETURNS TABLE (action text, parent_table text, partition_name text, row_count bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    pol    partition_policies;
    start  timestamptz;
    made   text;
    cutoff timestamptz;
    part   record;
    upper_bound timestamptz;
    n      bigint;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    FOR pol IN SELECT * FROM partition_policies ORDER BY parent LOOP
        start := qts_bucket_floor(pol.unit, now_ts);
        FOR i IN 0..pol.premake LOOP
            made := qts_ensure_partition(pol.parent, start);
            IF made IS NOT NULL THEN
                action := 'created'; parent_table := pol.parent; partition_name := made;
                row_count := NULL;
                RETURN NEXT;
            END IF;
            start := qts_bucket_next(pol.unit, start);
        END LOOP;
        CONTINUE WHEN pol.retention IS NULL;
        cutoff := now_ts - pol.retention;
        FOR part IN
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = pol.parent::regclass
            ORDER BY c.relname
        LOOP
            CONTINUE WHEN part.bound = 'DEFAULT';
            upper_bound := substring(part.bound FROM $re$TO \('([^']+)'\)$re$)::timestamptz;
            IF upper_bound <= cutoff THEN
                EXECUTE format('DROP TABLE %I', part.relname);
                action := 'dropped'; parent_table := pol.parent; partition_name := part.relname;
                row_count := NULL;
                RETURN NEXT;
            END IF;
        END LOOP;
        EXECUTE format('DELETE FROM %I WHERE %I < $1', pol.parent || '_default', pol.column_name)
            USING cutoff;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            action := 'deleted'; parent_table := pol.parent;
            partition_name := pol.parent || '_default'; row_count := n;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

-- Append-only tables: refuse UPDATE and DELETE (and TRUNCATE, by a statement trigger).
CREATE FUNCTION qts_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF qts_moving_rows() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;
