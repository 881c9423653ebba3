"""Backtest: the same ETEDA pipeline, broker and books as paper trading, on a simulated clock.

Only the wiring differs: bars come from files, the clock is never paced, and the store lives in
memory unless a database path is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qts.app.wiring import Engine, build_engine
from qts.backtest.calendar import BarCalendar
from qts.backtest.index import DailyIndex
from qts.core.clock import Pacer
from qts.core.heap import batched_collection
from qts.data.ports import TradingStore
from qts.engines.capital.config import CapitalConfig
from qts.engines.contracts import CycleReport
from qts.engines.performance import PerformanceReport, Trade, compute, round_trips
from qts.engines.risk import RiskLimits
from qts.engines.strategy import create
from qts.feeds.bars import BarSeries, from_epoch
from qts.feeds.replay import FrameTable
from qts.model.fill import Fill
from qts.model.instrument import Instrument, SecurityType
from qts.pipeline.loop import LoopResult, TradingLoop
from qts.pipeline.runner import SessionView

if TYPE_CHECKING:
    from qts.config.models import CacheSection

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    series: Sequence[BarSeries]
    strategy: str
    params: Mapping[str, Any]
    cash: int
    fees: str = "none"
    limits: RiskLimits = field(default_factory=RiskLimits)
    db: Path | None = None
    record_decisions: bool = True
    cache: CacheSection | None = None  # None: the in-process cache
    capital: CapitalConfig | None = field(default_factory=CapitalConfig)
    index: DailyIndex | None = None
    record: Mapping[str, Any] | None = None  # with db: the run's identity (qts.backtest.books)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    engine: Engine
    table: FrameTable
    loop: LoopResult
    trades: list[Trade]
    performance: PerformanceReport

    @property
    def final_equity(self) -> int:
        return self.engine.oms.account.cash + int(
            self.engine.oms.qty @ self.engine.runner.last_close
        )

    def summary(self) -> dict[str, Any]:
        from qts.backtest.report import trade_to_json

        return {
            "final_equity": self.final_equity,
            "symbol_bars": self.table.symbol_bars,
            "cycles": self.loop.cycles,
            "initial_cash": self.engine.oms.account.initial_cash,
            "fees_paid": self.engine.oms.account.ledger.total_fees(),
            "open_positions": {p.symbol: p.qty for p in self.engine.oms.account.open_positions()},
            "trades": [trade_to_json(t) for t in self.trades],
            "safety_events": self.safety_events(),
            **self.capital_summary(),
        }

    def capital_summary(self) -> dict[str, Any]:
        """Pools per trading day (each the day's last cycle), state transitions and transfers."""
        step = self.engine.runner.capital
        if step is None:
            return {}
        return {
            "capital": [step.rows[d] for d in sorted(step.rows)],
            "state_transitions": list(step.transitions),
            "transfers": list(step.transfers),
        }

    def safety_events(self) -> dict[str, int]:
        """How often each safety code was raised (a backtest lists them instead of logging)."""
        counts = Counter(e.code or e.kind for e in self.engine.store.load_safety_events())
        return dict(sorted(counts.items()))


def _always_open(ts: datetime) -> SessionView:
    return SessionView(open=True, minutes_to_close=390.0)


def instruments_of(series: Sequence[BarSeries]) -> dict[str, Instrument]:
    """Each series' instrument: its market and ETF flag pick the dated ticks, limits and tax."""
    return {
        s.symbol: Instrument.custom(
            s.symbol, s.market, SecurityType.ETF if s.etf else SecurityType.STOCK, s.name
        )
        for s in series
    }


def open_books(db: Path | None) -> TradingStore | None:
    """A backtest's SQLite books (its one writer), or None to keep them in memory."""
    if db is None:
        return None
    from qts.data.sqlite import SqliteStore  # not imported by a backtest kept in memory

    return SqliteStore(str(db), durable=False, writer=True)


def build_with_books(db: Path | None, **kwargs: Any) -> Engine:
    """``build_engine`` on ``db``'s books; they are closed (the writer lock released) if building
    fails."""
    store = open_books(db)
    try:
        return build_engine(db=db, store_override=store, **kwargs)
    except BaseException:
        if store is not None:
            store.close()
        raise


def run_backtest(spec: BacktestSpec, progress: ProgressFn | None = None) -> BacktestResult:
    table = FrameTable(spec.series)
    instruments = instruments_of(spec.series)
    strategy = create(spec.strategy, spec.params, source="--param")
    engine = build_with_books(
        spec.db,
        run_id=f"backtest-{strategy.name}",
        mode="backtest",
        universe=table.universe,
        instruments=instruments,
        strategies=[strategy],
        initial_cash=spec.cash,
        fees=spec.fees,
        limits=spec.limits,
        start=table.start(0),
        durable=False,
        participation=1.0,
        latency_ms=0,
        record_decisions=spec.record_decisions,
        log_safety_events=False,
        calendar=BarCalendar(from_epoch(int(t)).date() for t in table.ts),
        cache=spec.cache,
        capital=spec.capital,
        state_index=spec.index,
        keep_capital_rows=True,
        config={"backtest": dict(spec.record)} if spec.record is not None else None,
    )
    try:
        return _run(spec, table, engine, progress)
    except BaseException:
        engine.close()  # the books' writer lock goes with it
        raise


def _run(
    spec: BacktestSpec, table: FrameTable, engine: Engine, progress: ProgressFn | None
) -> BacktestResult:
    total = len(table)
    done = 0

    def on_cycle(report: CycleReport, fills: list[Fill]) -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 100 == 0 or done == total):
            progress(done, total)

    loop = TradingLoop(
        engine.runner,
        table.frames(),
        engine.sim_clock,
        Pacer(None),
        _always_open,
        venue=engine.venue,
        on_cycle=on_cycle,
        hooks=engine.spine,
    )
    with batched_collection():
        result = loop.run()
    trades, _open = round_trips(engine.oms.account.ledger.entries)
    perf = compute(engine.store.load_equity(), trades, spec.cash)
    return BacktestResult(engine, table, result, trades, perf)
