-- 0005 (TimescaleDB): market data and execution analytics as hypertables, with compression and
-- retention policies. Prices are BIGINT won; indexes are only those the readers use.

CREATE TABLE tick_data (
    time   timestamptz NOT NULL,
    symbol text NOT NULL,
    price  bigint NOT NULL CHECK (price > 0),
    volume bigint NOT NULL CHECK (volume >= 0),
    bid    bigint,
    ask    bigint,
    source text NOT NULL DEFAULT ''
);
SELECT create_hypertable('tick_data', 'time', chunk_time_interval => INTERVAL '1 day',
                         create_default_indexes => false);
CREATE INDEX tick_data_symbol_time_ix ON tick_data (symbol, time);
ALTER TABLE tick_data SET (timescaledb.compress,
                           timescaledb.compress_segmentby = 'symbol',
                           timescaledb.compress_orderby = 'time');
-- Compressed after one day (kept seven), so the last six days cost a fraction of the disk.
SELECT add_compression_policy('tick_data', compress_after => INTERVAL '1 day');
SELECT add_retention_policy('tick_data', drop_after => INTERVAL '7 days');

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
SELECT create_hypertable('ohlcv_1d', 'time', chunk_time_interval => INTERVAL '30 days');

CREATE TABLE execution_logs (
    time       timestamptz NOT NULL,
    order_id   text NOT NULL,
    symbol     text NOT NULL,
    stage      text NOT NULL,
    latency_ms double precision,
    success    boolean NOT NULL,
    error_code text
);
SELECT create_hypertable('execution_logs', 'time', chunk_time_interval => INTERVAL '1 day');
CREATE INDEX execution_logs_order_ix ON execution_logs (order_id, time);
SELECT add_retention_policy('execution_logs', drop_after => INTERVAL '90 days');

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
);
SELECT create_hypertable('feedback_data', 'time', chunk_time_interval => INTERVAL '7 days');
CREATE INDEX feedback_data_symbol_time_ix ON feedback_data (symbol, time);
ALTER TABLE feedback_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
SELECT add_compression_policy('feedback_data', compress_after => INTERVAL '30 days');
SELECT add_retention_policy('feedback_data', drop_after => INTERVAL '180 days');
