-- 0002: the trading state that is not a time series (same in both modes).
-- Money and quantities are BIGINT won and shares; timestamps are timestamptz (UTC inside).

CREATE TABLE run_meta (
    id           smallint PRIMARY KEY CHECK (id = 1),
    run_id       text NOT NULL,
    mode         text NOT NULL,
    initial_cash bigint NOT NULL CHECK (initial_cash >= 0),
    seed         bigint,
    started_at   timestamptz NOT NULL,
    config       jsonb NOT NULL
);

CREATE TABLE orders (
    client_order_id text PRIMARY KEY,
    symbol          text NOT NULL,
    side            text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type      text NOT NULL,
    qty             bigint NOT NULL CHECK (qty > 0),
    created_at      timestamptz NOT NULL,
    limit_price     bigint,
    strategy        text NOT NULL,
    track           text NOT NULL,
    status          text NOT NULL,
    filled_qty      bigint NOT NULL CHECK (filled_qty BETWEEN 0 AND qty),
    filled_amount   bigint NOT NULL CHECK (filled_amount >= 0),
    venue_order_id  text,
    reason          text NOT NULL,
    updated_at      timestamptz,
    fill_ids        text[] NOT NULL,
    -- first-save order: an upsert keeps it, a rolled-back insert gives it up
    saved_seq       bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
-- Recovery reads the open orders at every start and may every cycle.
CREATE INDEX orders_open_ix ON orders (saved_seq)
    WHERE status IN ('NEW', 'SUBMITTED', 'PARTIALLY_FILLED');

-- A client order id names one order: its identity fields never change.
CREATE FUNCTION orders_refuse_identity_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    diffs text[] := '{}';
BEGIN
    IF NEW.symbol IS DISTINCT FROM OLD.symbol THEN
        diffs := diffs || format('symbol stored %s, given %s', OLD.symbol, NEW.symbol);
    END IF;
    IF NEW.side IS DISTINCT FROM OLD.side THEN
        diffs := diffs || format('side stored %s, given %s', OLD.side, NEW.side);
    END IF;
    IF NEW.order_type IS DISTINCT FROM OLD.order_type THEN
        diffs := diffs || format('order_type stored %s, given %s', OLD.order_type, NEW.order_type);
    END IF;
    IF NEW.qty IS DISTINCT FROM OLD.qty THEN
        diffs := diffs || format('qty stored %s, given %s', OLD.qty, NEW.qty);
    END IF;
    IF NEW.limit_price IS DISTINCT FROM OLD.limit_price THEN
        diffs := diffs || format('limit_price stored %s, given %s', OLD.limit_price, NEW.limit_price);
    END IF;
    IF NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        diffs := diffs || format('created_at stored %s, given %s', OLD.created_at, NEW.created_at);
    END IF;
    RAISE EXCEPTION 'client order id already names a different order: %',
        array_to_string(diffs, '; ') USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER orders_identity BEFORE UPDATE ON orders FOR EACH ROW
    WHEN (NEW.symbol IS DISTINCT FROM OLD.symbol OR NEW.side IS DISTINCT FROM OLD.side
          OR NEW.order_type IS DISTINCT FROM OLD.order_type OR NEW.qty IS DISTINCT FROM OLD.qty
          OR NEW.limit_price IS DISTINCT FROM OLD.limit_price
          OR NEW.created_at IS DISTINCT FROM OLD.created_at)
    EXECUTE FUNCTION orders_refuse_identity_change();

CREATE TABLE fills (
    fill_id         text PRIMARY KEY,
    client_order_id text NOT NULL REFERENCES orders (client_order_id),
    symbol          text NOT NULL,
    side            text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty             bigint NOT NULL CHECK (qty > 0),
    price           bigint NOT NULL CHECK (price > 0),
    ts              timestamptz NOT NULL,
    commission      bigint NOT NULL CHECK (commission >= 0),
    tax             bigint NOT NULL CHECK (tax >= 0),
    booked_seq      bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);

-- The ledger's last seq, one row: the ledger trigger checks and advances it under a row lock,
-- so seqs stay consecutive even with two writers, without scanning the ledger's partitions.
CREATE TABLE ledger_head (
    id       smallint PRIMARY KEY CHECK (id = 1),
    last_seq bigint NOT NULL CHECK (last_seq >= 0)
);
INSERT INTO ledger_head (id, last_seq) VALUES (1, 0);

-- One row per symbol ever held (closed positions carry realized PnL).
CREATE TABLE positions (
    symbol          text PRIMARY KEY,
    qty             bigint NOT NULL CHECK (qty >= 0),
    cost_basis      bigint NOT NULL,
    realized_pnl    bigint NOT NULL,
    last_price      bigint NOT NULL,
    opened_at       timestamptz,
    track           text NOT NULL,
    strategy        text NOT NULL,
    high_since_open bigint NOT NULL,
    low_since_open  bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account (
    id   smallint PRIMARY KEY CHECK (id = 1),
    cash bigint NOT NULL
);

CREATE TABLE account_pending (
    settle_date date PRIMARY KEY,
    amount      bigint NOT NULL
);

CREATE TABLE equity_history (
    ts           timestamptz PRIMARY KEY,
    cash         bigint NOT NULL,
    market_value bigint NOT NULL,
    equity       bigint NOT NULL,
    realized     bigint NOT NULL,
    unrealized   bigint NOT NULL,
    fees         bigint NOT NULL
);

-- Safety and operating state documents, by key.
CREATE TABLE state (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE safety_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts           timestamptz NOT NULL,
    kind         text NOT NULL,
    code         text NOT NULL,
    message      text NOT NULL,
    state_before text NOT NULL,
    state_after  text NOT NULL,
    operator     text NOT NULL
);
CREATE TRIGGER safety_events_append_only BEFORE UPDATE OR DELETE ON safety_events
    FOR EACH ROW EXECUTE FUNCTION qts_append_only();
CREATE TRIGGER safety_events_no_truncate BEFORE TRUNCATE ON safety_events
    FOR EACH STATEMENT EXECUTE FUNCTION qts_append_only();
