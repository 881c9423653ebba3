DROP TABLE risk_configs;
DROP TABLE strategies;
