-- 0003 (plain PostgreSQL): the trading time series, range-partitioned by time.
-- A partitioned table's unique keys must contain the partition column, hence (seq, ts).

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
) PARTITION BY RANGE (ts);
CREATE TABLE t_ledger_default PARTITION OF t_ledger DEFAULT;
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('t_ledger', 'ts', 'month', NULL, 1);

-- Seqs are consecutive (checked and advanced on ledger_head under its row lock) and a fill is
-- booked once, whatever its timestamp (the unique key alone would allow one per instant).
CREATE FUNCTION t_ledger_check_append() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    last bigint;
BEGIN
    IF qts_moving_rows() THEN
        RETURN NEW;
    END IF;
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

CREATE SEQUENCE decision_log_id_seq;
CREATE TABLE decision_log (
    id         bigint NOT NULL DEFAULT nextval('decision_log_id_seq'),
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
) PARTITION BY RANGE (ts);
ALTER SEQUENCE decision_log_id_seq OWNED BY decision_log.id;
CREATE TABLE decision_log_default PARTITION OF decision_log DEFAULT;
-- "What did cycle X decide": recovery and audit.
CREATE INDEX decision_log_cycle_ix ON decision_log (cycle_id);
INSERT INTO partition_policies (parent, column_name, unit, retention, premake)
VALUES ('decision_log', 'ts', 'month', INTERVAL '365 days', 1);
