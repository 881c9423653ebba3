DELETE FROM partition_policies WHERE parent IN ('t_ledger', 'decision_log');
DROP TABLE decision_log;
DROP TABLE t_ledger;
DROP FUNCTION t_ledger_check_append();
