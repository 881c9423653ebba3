"""Parameter sweeps: many backtests of one strategy over a search space, locally or on Ray.

Every trial is an ordinary :func:`qts.backtest.engine.run_backtest`, so a trial's result is
exactly what ``qts backtest`` gives for the same parameters.
"""
