DROP TABLE capital_events;
