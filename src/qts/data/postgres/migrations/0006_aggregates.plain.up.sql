-- 0006 (plain PostgreSQL): the aggregates TimescaleDB would keep as continuous aggregates.
--
-- ohlcv_1m and hourly_execution_metrics outlive their sources (bars 30 days over 7 days of
-- ticks; metrics 180 days over 90 days of logs), so they cannot be materialized views, which
-- recompute everything from what the source still holds. They are partitioned tables filled
-- incrementally by qts_refresh_aggregates(now) over the same windows as the TimescaleDB
-- policies, with a watermark: readers take materialized buckets below it and compute the rest
-- from the raw rows. A write below the watermark lowers it, so a late or back-filled row is
-- read live at once and materialized by the next refresh.
--
-- daily_pnl reads the ledger, which is kept forever: a materialized view refreshed on schedule.
--
-- Bars: open is the price of the earliest tick, close of the latest; ticks at the same instant
-- are ordered by price, so open takes the lowest and close the highest of them.

CREATE TABLE ohlcv_1m (
    bucket timestamptz NOT NULL,
    symbol text NOT NULL,
    open   bigint NOT NULL,
    high   bigint NOT NULL,
    low    bigint NOT NULL,
    close  bigint NOT NULL,
    volume bigint NOT NULL,
    PRIMARY KEY (symbol, bucket)
) PARTITION BY RANGE (bucket);
CREATE TABLE ohlcv_1m_default PARTITION OF ohlcv_1m DEFAULT;
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('ohlcv_1m', 'bucket', 'day', INTERVAL '30 days', 3);
INSERT INTO aggregate_watermarks (name, watermark) VALUES ('ohlcv_1m', NULL);

CREATE TABLE hourly_execution_metrics (
    bucket         timestamptz NOT NULL,
    stage          text NOT NULL,
    calls          bigint NOT NULL,
    success_count  bigint NOT NULL,
    failure_count  bigint NOT NULL,
    avg_latency_ms double precision,
    p99_latency_ms double precision,
    PRIMARY KEY (stage, bucket)
) PARTITION BY RANGE (bucket);
CREATE TABLE hourly_execution_metrics_default PARTITION OF hourly_execution_metrics DEFAULT;
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('hourly_execution_metrics', 'bucket', 'month', INTERVAL '180 days', 1);
INSERT INTO aggregate_watermarks (name, watermark) VALUES ('hourly_execution_metrics', NULL);

-- One row per KST trading day, symbol and strategy: realized PnL (the ledger's pnl), the net
-- cash flow (what the doc called realized_pnl), fees, and the number of fills.
CREATE MATERIALIZED VIEW daily_pnl AS
SELECT date_trunc('day', ts, 'Asia/Seoul') AS bucket,
       symbol,
       strategy,
       sum(pnl) AS realized_pnl,
       sum(net_amount) AS net_cash_flow,
       sum(commission + tax) AS fees,
       count(*) AS trade_count
FROM t_ledger
GROUP BY 1, 2, 3;
-- REFRESH ... CONCURRENTLY needs a unique index; readers select by day.
CREATE UNIQUE INDEX daily_pnl_key ON daily_pnl (bucket, symbol, strategy);

-- Bring the aggregates up to date as of now_ts; full_refresh recomputes every bucket the raw
-- rows still cover. Returns one row per aggregate refreshed.
CREATE FUNCTION qts_refresh_aggregates(now_ts timestamptz, full_refresh boolean DEFAULT false)
RETURNS TABLE (aggregate text, window_start timestamptz, window_end timestamptz, row_count bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    wm timestamptz;
    lo timestamptz;
    hi timestamptz;
    oldest timestamptz;
    n  bigint;
BEGIN
    -- ohlcv_1m: window [now - 1 hour, now - 1 minute), every minute.
    SELECT watermark INTO wm FROM aggregate_watermarks WHERE name = 'ohlcv_1m' FOR UPDATE;
    hi := date_trunc('minute', now_ts - INTERVAL '1 minute', 'UTC');
    lo := date_trunc('minute', now_ts - INTERVAL '1 hour', 'UTC');
    IF wm IS NULL OR full_refresh OR wm < lo THEN
        -- Catching up: start from the watermark, but never before the oldest tick still kept
        -- (bars whose ticks have expired are kept as they are).
        SELECT date_trunc('minute', min(time), 'UTC') INTO oldest FROM tick_data;
        lo := CASE WHEN wm IS NULL OR full_refresh THEN oldest ELSE greatest(wm, oldest) END;
    END IF;
    IF lo IS NOT NULL AND lo < hi THEN
        DELETE FROM ohlcv_1m WHERE bucket >= lo AND bucket < hi;
        INSERT INTO ohlcv_1m (bucket, symbol, open, high, low, close, volume)
        SELECT date_trunc('minute', time, 'UTC'),
               symbol,
               (array_agg(price ORDER BY time, price))[1],
               max(price),
               min(price),
               (array_agg(price ORDER BY time DESC, price DESC))[1],
               sum(volume)
        FROM tick_data
        WHERE time >= lo AND time < hi
        GROUP BY 1, 2;
        GET DIAGNOSTICS n = ROW_COUNT;
        aggregate := 'ohlcv_1m'; window_start := lo; window_end := hi; row_count := n;
        RETURN NEXT;
    END IF;
    UPDATE aggregate_watermarks SET watermark = greatest(watermark, hi) WHERE name = 'ohlcv_1m';

    -- hourly_execution_metrics: window [now - 3 days, now - 1 hour), every hour.
    SELECT watermark INTO wm FROM aggregate_watermarks
        WHERE name = 'hourly_execution_metrics' FOR UPDATE;
    hi := date_trunc('hour', now_ts - INTERVAL '1 hour', 'UTC');
    lo := date_trunc('hour', now_ts - INTERVAL '3 days', 'UTC');
    IF wm IS NULL OR full_refresh OR wm < lo THEN
        SELECT date_trunc('hour', min(time), 'UTC') INTO oldest FROM execution_logs;
        lo := CASE WHEN wm IS NULL OR full_refresh THEN oldest ELSE greatest(wm, oldest) END;
    END IF;
    IF lo IS NOT NULL AND lo < hi THEN
        DELETE FROM hourly_execution_metrics WHERE bucket >= lo AND bucket < hi;
        INSERT INTO hourly_execution_metrics
            (bucket, stage, calls, success_count, failure_count, avg_latency_ms, p99_latency_ms)
        SELECT date_trunc('hour', time, 'UTC'),
               stage,
               count(*),
               count(*) FILTER (WHERE success),
               count(*) FILTER (WHERE NOT success),
               avg(latency_ms),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)
        FROM execution_logs
        WHERE time >= lo AND time < hi
        GROUP BY 1, 2;
        GET DIAGNOSTICS n = ROW_COUNT;
        aggregate := 'hourly_execution_metrics'; window_start := lo; window_end := hi;
        row_count := n;
        RETURN NEXT;
    END IF;
    UPDATE aggregate_watermarks SET watermark = greatest(watermark, hi)
        WHERE name = 'hourly_execution_metrics';

    -- daily_pnl: the whole view (the ledger of one account is small).
    REFRESH MATERIALIZED VIEW CONCURRENTLY daily_pnl;
    aggregate := 'daily_pnl'; window_start := NULL; window_end := NULL;
    SELECT count(*) INTO row_count FROM daily_pnl;
    RETURN NEXT;
END
$$;
