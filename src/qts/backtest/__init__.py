"""Backtests: the paper engine on a simulated clock over recorded bars, as fast as possible."""
