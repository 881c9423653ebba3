-- The capital journal: operating-state transitions, pool transfers, pool locks and daily pool
-- balances (the current values are the state documents operating_state and capital).
CREATE TABLE capital_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts      timestamptz NOT NULL,
    kind    text NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX ix_capital_events_kind ON capital_events (kind, id);
CREATE TRIGGER capital_events_append_only BEFORE UPDATE OR DELETE ON capital_events
    FOR EACH ROW EXECUTE FUNCTION qts_append_only();
CREATE TRIGGER capital_events_no_truncate BEFORE TRUNCATE ON capital_events
    FOR EACH STATEMENT EXECUTE FUNCTION qts_append_only();
