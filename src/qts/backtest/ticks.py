"""Backtest on recorded ticks: prints and quotes drive the simulated exchange's order book, and
the strategies see one-minute bars built from the prints.

File format (CSV, header required): ``time,symbol,price,volume,bid,ask,bid_qty,ask_qty``.
``time`` is ISO-8601 with its offset (``2026-03-04T10:00:00.250+09:00``); prices are integer won.
A row with ``price``/``volume`` is a trade print; a row with ``bid``/``ask`` (and their
quantities) is a quote, the top level of each side; a row may carry both. Rows must be in time
order. Scalp orders go through the execution micro-pipeline, which sees every tick's time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qts.app.paper import session_view
from qts.app.wiring import Engine
from qts.backtest.engine import build_with_books
from qts.core.errors import InputError
from qts.engines.performance import PerformanceReport, Trade, compute, round_trips
from qts.engines.risk import RiskLimits
from qts.engines.strategy import create
from qts.feeds.ticks_to_bars import MinuteBars, Print
from qts.market.krx.calendar import KrxCalendar
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import SYMBOL_RULE, Instrument, is_symbol

COLUMNS = ("time", "symbol", "price", "volume", "bid", "ask", "bid_qty", "ask_qty")


@dataclass(frozen=True, slots=True)
class TickRow:
    time: datetime
    symbol: str
    price: int = 0
    volume: int = 0
    bid: int = 0
    ask: int = 0
    bid_qty: int = 0
    ask_qty: int = 0


def load_ticks(path: Path) -> list[TickRow]:
    """Read and check a tick file; one clear error names the file, line, field and reason."""
    src = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(src, "file", f"cannot read: {exc.strerror}") from exc
    rows: list[TickRow] = []
    symbols: set[str] = set()
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("time", "symbol") if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(src, "header", f"missing column(s) {', '.join(missing)}")
        last: datetime | None = None
        for n, raw in enumerate(reader, start=2):
            where = f"{src}:{n}"
            try:
                ts = datetime.fromisoformat((raw.get("time") or "").strip())
            except ValueError:
                raise InputError(
                    where, "time", f"not an ISO-8601 time: {raw.get('time')!r}"
                ) from None
            if ts.tzinfo is None:
                raise InputError(where, "time", "needs a UTC offset (e.g. +09:00)")
            if last is not None and ts < last:
                raise InputError(where, "time", f"{ts.isoformat()} is before the row above")
            last = ts
            symbol = (raw.get("symbol") or "").strip()
            if not symbol:
                raise InputError(where, "symbol", "empty")
            if symbol not in symbols:
                if not is_symbol(symbol):
                    raise InputError(where, "symbol", f"{symbol!r}: use {SYMBOL_RULE}")
                symbols.add(symbol)
            values = {c: _int(where, c, raw.get(c)) for c in COLUMNS[2:]}
            row = TickRow(ts, symbol, **values)
            if (row.price > 0) != (row.volume > 0):
                raise InputError(where, "price/volume", "a print needs both a price and a volume")
            if (row.bid > 0 or row.ask > 0) and (row.bid <= 0 or row.ask <= row.bid):
                raise InputError(where, "bid/ask", f"bid {row.bid} must be below ask {row.ask}")
            if row.price <= 0 and row.bid <= 0:
                raise InputError(where, "row", "neither a print nor a quote")
            rows.append(row)
    if not rows:
        raise InputError(src, "rows", "no ticks")
    return rows


def _int(where: str, column: str, text: str | None) -> int:
    text = (text or "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise InputError(where, column, f"not a whole number: {text!r}") from None
    if value < 0:
        raise InputError(where, column, f"negative: {value}")
    return value


@dataclass(frozen=True, slots=True)
class TickBacktestResult:
    engine: Engine
    ticks: int
    cycles: int
    trades: list[Trade]
    performance: PerformanceReport

    @property
    def final_equity(self) -> int:
        return self.engine.oms.account.cash + int(
            self.engine.oms.qty @ self.engine.runner.last_close
        )

    def summary(self) -> dict[str, Any]:
        from qts.backtest.report import trade_to_json

        scalp = self.engine.scalp
        out: dict[str, Any] = {
            "final_equity": self.final_equity,
            "ticks": self.ticks,
            "cycles": self.cycles,
            "initial_cash": self.engine.oms.account.initial_cash,
            "fees_paid": self.engine.oms.account.ledger.total_fees(),
            "open_positions": {p.symbol: p.qty for p in self.engine.oms.account.open_positions()},
            "trades": [trade_to_json(t) for t in self.trades],
        }
        if scalp is not None:
            s = scalp.feedback.overall()
            out["scalp_executions"] = len(scalp.pipeline.finished)
            out["scalp_mean_slippage_bps"] = round(s.avg_slippage_bps, 3)
            out["scalp_quality"] = round(s.avg_quality_score, 4)
            out["scalp_fill_ratio"] = round(s.avg_fill_ratio, 4)
            out["scalp_measured"] = s.samples
        return out


def _instrument(symbol: str) -> Instrument:
    try:
        return Instrument.krx(symbol)
    except ValueError:
        return Instrument.custom(symbol)


def run_tick_backtest(
    ticks: list[TickRow],
    strategy: str,
    params: dict[str, Any],
    cash: int,
    fees: str = "krx",
    limits: RiskLimits | None = None,
    db: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    record: Mapping[str, Any] | None = None,
) -> TickBacktestResult:
    symbols = tuple(dict.fromkeys(t.symbol for t in ticks))
    universe = Universe(symbols)
    instruments = {s: _instrument(s) for s in symbols}
    reference: dict[str, int] = {}
    for t in ticks:
        if t.symbol not in reference and (t.price or t.bid):
            reference[t.symbol] = t.price or t.bid
    calendar = KrxCalendar()
    chosen = create(strategy, params, source="--param")
    engine = build_with_books(
        db,
        run_id=f"ticks-{chosen.name}",
        mode="backtest",
        universe=universe,
        instruments=instruments,
        strategies=[chosen],
        initial_cash=cash,
        fees=fees,
        limits=limits or RiskLimits(),
        start=ticks[0].time - timedelta(seconds=1),
        durable=False,
        participation=1.0,
        latency_ms=0,
        calendar=calendar,
        reference_prices=reference,
        scalp=True,
        config={"backtest": dict(record)} if record is not None else None,
    )
    try:
        venue = engine.venue
        assert venue is not None
        clock, spine, runner = engine.sim_clock, engine.spine, engine.runner
        session = session_view(calendar)
        bars = MinuteBars(universe)
        cycles = 0

        def cycle(frames: list[BarFrame]) -> None:
            nonlocal cycles
            for frame in frames:
                clock.advance_to(max(frame.end, clock.now()))
                venue.on_frame(frame)  # symbols without quotes keep the bar-fill model
                fills = spine.before_cycle(frame, venue.drain_events())
                report = runner.run_cycle(frame, frame.end, session(frame.end))
                spine.after_cycle(report, fills)
                cycles += 1

        for k, t in enumerate(ticks):
            cycle(bars.close_until(t.time))
            clock.advance_to(max(t.time, clock.now()))
            if t.bid > 0:
                venue.on_quotes(t.symbol, [(t.bid, t.bid_qty)], [(t.ask, t.ask_qty)])
            if t.price > 0:
                venue.on_print(t.symbol, t.price, t.volume)
                cycle(bars.add(Print(t.symbol, t.time, t.price, t.volume)))
            spine.settle(venue.drain_events())  # fills booked, the pipeline's clock ticks
            if progress is not None and (k % 1_000 == 0):
                progress(k, len(ticks))
        last = ticks[-1].time + timedelta(minutes=1)
        cycle(bars.close_until(last))
        clock.advance_to(max(last, clock.now()))
        spine.settle(venue.drain_events())
        trades, _open = round_trips(engine.oms.account.ledger.entries)
        perf = compute(engine.store.load_equity(), trades, cash)
        return TickBacktestResult(engine, len(ticks), cycles, trades, perf)
    except BaseException:
        engine.close()  # the books' writer lock goes with it
        raise
