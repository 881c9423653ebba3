"""Broker adapters behind one protocol: the simulated KRX exchange today; KIS and Kiwoom later."""
