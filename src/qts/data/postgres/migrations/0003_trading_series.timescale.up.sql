-- 0003 (TimescaleDB): the trading time series as hypertables. A hypertable's unique keys must
-- contain the time column, hence (seq, ts); that is what lets daily_pnl be a continuous
-- aggregate over the ledger.

CREATE TABLE t_ledger (
    seq             bigint NOT NULL CHECK (seq > 0),
    ts              timestamptz NOT NULL,
    symbol          text NOT NULL,
    market          text NOT NULL,
    side            text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty             bigint NOT NULL CHECK (qty > 0),
    price           bigint NOT NULL,
    amount          bigint NOT NULL,
    commission      bigint NOT NULL,
    tax             bigint NOT NULL,
    net_amount      bigint NOT NULL,
    client_order_id text NOT NULL,
    fill_id         text NOT NULL REFERENCES fills (fill_id),
    strategy        text NOT NULL,
    position_after  bigint NOT NULL,
    pnl             bigint NOT NULL,
    settle_date     text NOT NULL,
    PRIMARY KEY (seq, ts),
    UNIQUE (fill_id, ts)
);
SELECT create_hypertable('t_ledger', 'ts', chunk_time_interval => INTERVAL '30 days');

-- Seqs are consecutive (checked and advanced on ledger_head under its row lock) and a fill is
-- booked once, whatever its timestamp (the unique key alone would allow one per instant).
CREATE FUNCTION t_ledger_check_append() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    last bigint;
BEGIN
    UPDATE ledger_head SET last_seq = NEW.seq WHERE id = 1 AND last_seq = NEW.seq - 1;
    IF NOT FOUND THEN
        SELECT last_seq INTO last FROM ledger_head WHERE id = 1;
        RAISE EXCEPTION 'ledger seq % does not follow the last entry (expected %)',
            NEW.seq, last + 1 USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM t_ledger WHERE fill_id = NEW.fill_id) THEN
        RAISE EXCEPTION 'fill % is already in the ledger', NEW.fill_id
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER t_ledger_append BEFORE INSERT ON t_ledger
    FOR EACH ROW EXECUTE FUNCTION t_ledger_check_append();
CREATE TRIGGER t_ledger_append_only BEFORE UPDATE OR DELETE ON t_ledger
    FOR EACH ROW EXECUTE FUNCTION qts_append_only();
CREATE TRIGGER t_ledger_no_truncate BEFORE TRUNCATE ON t_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION qts_append_only();

CREATE TABLE decision_log (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    ts         timestamptz NOT NULL,
    cycle_id   text NOT NULL,
    symbol     text NOT NULL,
    action     text NOT NULL,
    strategy   text NOT NULL,
    price      bigint,
    qty        bigint,
    approved   boolean NOT NULL,
    reason     text NOT NULL,
    act_status text NOT NULL,
    metadata   jsonb NOT NULL,
    PRIMARY KEY (id, ts)
);
SELECT create_hypertable('decision_log', 'ts', chunk_time_interval => INTERVAL '30 days');
CREATE INDEX decision_log_cycle_ix ON decision_log (cycle_id);
SELECT add_retention_policy('decision_log', drop_after => INTERVAL '365 days');
