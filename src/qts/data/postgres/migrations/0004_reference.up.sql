-- 0004: strategy parameters and risk configuration (same in both modes).
-- One row per parameter: the key is (strategy_id, param_name), not strategy_id alone.

CREATE TABLE strategies (
    strategy_id text NOT NULL,
    param_name  text NOT NULL,
    value       text NOT NULL,
    value_type  text NOT NULL DEFAULT 'string',
    description text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (strategy_id, param_name)
);

CREATE TABLE risk_configs (
    config_key  text PRIMARY KEY,
    value       numeric(18, 8) NOT NULL,
    description text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL
);
