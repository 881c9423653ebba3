"""Engines: strategy, risk, portfolio, trading and performance. Pure: no I/O, no wall clock."""
