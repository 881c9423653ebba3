"""The reference for benchmarks/backtest_throughput.py: SMA fast/slow crossover in backtrader
(pip install backtrader), market orders filled at the next open, no fees, over a folder of
date,open,high,low,close,volume CSVs. Prints one JSON line: seconds, final value, trades."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

started = time.perf_counter()
import backtrader as bt  # noqa: E402


class SmaCross(bt.Strategy):  # type: ignore[misc]
    params = (("fast", 10), ("slow", 30), ("qty", 10))

    def __init__(self) -> None:
        self.cross = {
            d: bt.indicators.CrossOver(
                bt.indicators.SMA(d.close, period=self.p.fast),
                bt.indicators.SMA(d.close, period=self.p.slow),
            )
            for d in self.datas
        }
        self.closed: list[float] = []

    def next(self) -> None:
        for d, cross in self.cross.items():
            held = self.getposition(d).size
            if cross[0] > 0 and not held:
                self.buy(data=d, size=self.p.qty)
            elif cross[0] < 0 and held:
                self.close(data=d)

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.closed.append(trade.pnl)


def main(folder: str, cash: float) -> None:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    for path in sorted(Path(folder).glob("*.csv")):
        feed = bt.feeds.GenericCSVData(
            dataname=str(path), dtformat="%Y-%m-%d", datetime=0, open=1, high=2, low=3,
            close=4, volume=5, openinterest=-1, headers=True,
        )  # fmt: skip
        cerebro.adddata(feed, name=path.stem)
    cerebro.addstrategy(SmaCross)
    [strategy] = cerebro.run(runonce=True, preload=True)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "final_value": cerebro.broker.getvalue(),
                "trades": len(strategy.closed),
                "pnl": sum(strategy.closed),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
