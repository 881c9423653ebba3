SELECT remove_retention_policy('decision_log', if_exists => true);
DROP TABLE decision_log;
DROP TABLE t_ledger;
DROP FUNCTION t_ledger_check_append();
