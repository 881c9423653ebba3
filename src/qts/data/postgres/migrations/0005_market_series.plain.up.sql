-- 0005 (plain PostgreSQL): market data and execution analytics, range-partitioned by time.
-- Prices are BIGINT won (KRX prices are whole won); indexes are only those the readers use.

CREATE TABLE tick_data (
    time   timestamptz NOT NULL,
    symbol text NOT NULL,
    price  bigint NOT NULL CHECK (price > 0),
    volume bigint NOT NULL CHECK (volume >= 0),
    bid    bigint,
    ask    bigint,
    source text NOT NULL DEFAULT ''
) PARTITION BY RANGE (time);
CREATE TABLE tick_data_default PARTITION OF tick_data DEFAULT;
-- The readers: latest tick of a symbol, a symbol's ticks (and 1-minute bars) over a range.
CREATE INDEX tick_data_symbol_time_ix ON tick_data (symbol, time);
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('tick_data', 'time', 'day', INTERVAL '7 days', 3);

-- Daily bars are kept forever and never expire, so there is nothing to partition for.
CREATE TABLE ohlcv_1d (
    time   timestamptz NOT NULL,
    symbol text NOT NULL,
    open   bigint NOT NULL,
    high   bigint NOT NULL,
    low    bigint NOT NULL,
    close  bigint NOT NULL,
    volume bigint NOT NULL CHECK (volume >= 0),
    PRIMARY KEY (symbol, time)
);

CREATE TABLE execution_logs (
    time       timestamptz NOT NULL,
    order_id   text NOT NULL,
    symbol     text NOT NULL,
    stage      text NOT NULL,
    latency_ms double precision,
    success    boolean NOT NULL,
    error_code text
) PARTITION BY RANGE (time);
CREATE TABLE execution_logs_default PARTITION OF execution_logs DEFAULT;
-- The feedback aggregator reads an order's log lines.
CREATE INDEX execution_logs_order_ix ON execution_logs (order_id, time);
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('execution_logs', 'time', 'day', INTERVAL '90 days', 3);

CREATE TABLE feedback_data (
    time              timestamptz NOT NULL,
    symbol            text NOT NULL,
    order_id          text NOT NULL,
    strategy_tag      text NOT NULL DEFAULT '',
    slippage_bps      double precision NOT NULL,
    fill_latency_ms   double precision NOT NULL,
    fill_ratio        double precision NOT NULL CHECK (fill_ratio BETWEEN 0 AND 1),
    quality_score     double precision NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    market_impact_bps double precision NOT NULL
) PARTITION BY RANGE (time);
CREATE TABLE feedback_data_default PARTITION OF feedback_data DEFAULT;
-- Strategies read the last 30 days of feedback for one symbol.
CREATE INDEX feedback_data_symbol_time_ix ON feedback_data (symbol, time);
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('feedback_data', 'time', 'week', INTERVAL '180 days', 1);
