"""The trading day as a service: its chores follow the KRX calendar on the run's clock.

A simulated clock runs over Christmas 2026 (Thursday 24th trades; Friday 25th is a holiday; the
weekend; Monday 28th trades): the pre-open and close chores fire once each on the trading days
and never on the closed ones, a restart does not repeat them, and a failing chore is retried.
Then the close chore on a real engine (SQLite books, the simulated exchange): the unfilled day
order is closed in the books (the venue expired it at the close), and the day's report — in the
store and in ``var/reports/`` — carries the day's fills, fees and PnL as the ledger has them.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from qts.app.live_books import live_books
from qts.app.paper import session_view
from qts.app.trading_day import REPORT_KEY, Chore, DayChores, TradingDay, service_chores
from qts.app.wiring import build_engine
from qts.core.clock import SimulatedClock
from qts.core.time import KST
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import OrderDecision
from qts.engines.risk import RiskLimits
from qts.feeds.bars import BarSeries, to_epoch
from qts.feeds.replay import FrameTable
from qts.market.krx.calendar import KrxCalendar
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

SYM = "005930"


def kst(d: date, h: int, m: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, h, m, tzinfo=KST)


class Recorder:
    def __init__(self, fail_first: str = "") -> None:
        self.seen: list[tuple[str, date, datetime]] = []
        self.fail_first = fail_first
        self.clock: SimulatedClock | None = None

    def __call__(self, chore: Chore) -> str:
        assert self.clock is not None
        if chore.kind == self.fail_first:
            self.fail_first = ""
            raise RuntimeError("broker down")
        self.seen.append((chore.kind, chore.day, self.clock.now()))
        return "ok"


def drive(
    store: SqliteStore, clock: SimulatedClock, until: datetime, rec: Recorder, lines: list[str]
) -> None:
    chores = DayChores(
        TradingDay(KrxCalendar(), store), clock, pre_open=rec, close=rec, echo=lines.append
    )
    rec.clock = clock
    while clock.now() < until:
        chores()
        clock.advance(timedelta(minutes=10))


def test_chores_follow_the_calendar_once_each_and_survive_a_restart(tmp_path: Path) -> None:
    thu, mon = date(2026, 12, 24), date(2026, 12, 28)
    store = SqliteStore(tmp_path / "books.sqlite")
    clock = SimulatedClock(kst(thu, 7))
    rec, lines = Recorder(fail_first="close"), []
    drive(store, clock, kst(thu, 12), rec, lines)
    # a restart at noon: the same store, a new schedule
    drive(store, clock, kst(mon, 16), rec, lines)
    store.close()

    assert [(k, d) for k, d, _ in rec.seen] == [
        ("pre_open", thu),
        ("close", thu),
        ("pre_open", mon),
        ("close", mon),
    ]
    for kind, d, ran in rec.seen:
        session = KrxCalendar().session(d)
        due = session.pre_open_auction_start if kind == "pre_open" else session.close
        slack = timedelta(minutes=20) if (kind, d) == ("close", thu) else timedelta(minutes=10)
        assert due <= ran < due + slack, (kind, d, ran)  # the failed close ran one tick later
    assert any("close 2026-12-24: failed (RuntimeError: broker down)" in ln for ln in lines)
    assert not any("12-25" in ln or "12-26" in ln or "12-27" in ln for ln in lines)


def test_a_close_the_clock_steps_over_still_runs_before_the_next_pre_open(
    tmp_path: Path,
) -> None:
    """A fast replay (the local Kiwoom exchange) prints the day's last trade and, at once, the
    next trading day's first: the venue clock jumps from before Thursday's close to Monday's
    session. The close the run watched come still runs (first), then Monday's pre-open; a run
    started on Monday (it slept through Thursday's close) does not write Thursday's report."""
    thu, mon = date(2026, 12, 24), date(2026, 12, 28)
    store = SqliteStore(tmp_path / "books.sqlite")
    clock = SimulatedClock(kst(thu, 15, 29))
    rec, lines = Recorder(), []
    rec.clock = clock
    chores = DayChores(
        TradingDay(KrxCalendar(), store), clock, pre_open=rec, close=rec, echo=lines.append
    )
    chores()  # Thursday's pre-open (missed before the start) and close are not due
    assert rec.seen == [("pre_open", thu, kst(thu, 15, 29))]
    clock.advance_to(kst(mon, 9, 1))
    chores()
    assert [(k, d) for k, d, _ in rec.seen] == [
        ("pre_open", thu),
        ("close", thu),
        ("pre_open", mon),
    ]
    assert [ln.split(":")[0] for ln in lines] == [
        "pre-open 2026-12-24",
        "close 2026-12-24",
        "pre-open 2026-12-28",
    ]
    chores()
    assert len(rec.seen) == 3  # once each
    store.close()

    # a run that starts on Monday morning slept through Thursday's close: not its chore
    store = SqliteStore(tmp_path / "other.sqlite")
    clock = SimulatedClock(kst(mon, 9, 1))
    late = Recorder()
    late.clock = clock
    chores = DayChores(TradingDay(KrxCalendar(), store), clock, pre_open=late, close=late)
    chores()
    clock.advance(timedelta(minutes=1))
    chores()
    assert [(k, d) for k, d, _ in late.seen] == [("pre_open", mon)]
    store.close()


def bars(start: datetime, prices: list[int]) -> list[BarFrame]:
    """One-minute frames from ``start``, one per price."""
    n = len(prices)
    ts = np.array([to_epoch(start + timedelta(minutes=m)) for m in range(n)], dtype=np.int64)
    p = np.array(prices, dtype=np.int64)
    series = BarSeries(SYM, ts, p, p, p, p, np.full(n, 50_000))
    return list(FrameTable([series], last_end=start + timedelta(minutes=n)).frames())


def test_the_close_cancels_open_day_orders_and_writes_the_day_report(tmp_path: Path) -> None:
    day = date(2026, 12, 28)
    session = KrxCalendar().session(day)
    books = live_books("sim", "paper", "test-account", db=tmp_path / "var" / "books.sqlite")
    engine = build_engine(
        run_id=books.run_id,
        mode="paper",
        universe=bars(session.open, [70_000])[0].universe,
        instruments={SYM: Instrument.krx(SYM)},
        strategies=[],
        initial_cash=100_000_000,
        fees="krx",
        limits=RiskLimits(),
        start=session.open,
        db=books.db,
        durable=True,
        participation=1.0,
        latency_ms=0,
        reference_prices={SYM: 70_000},
    )
    clock = engine.sim_clock
    lines: list[str] = []
    idle = service_chores(engine, books, engine.calendar, clock, lines.append, every_s=0)
    try:
        oms, venue = engine.oms, engine.venue
        assert venue is not None
        buy = OrderDecision(
            SYM, OrderSide.BUY, 10, OrderType.MARKET, None, "t", "t", Track.SWING, 70_000
        )
        low = OrderDecision(
            SYM, OrderSide.BUY, 5, OrderType.LIMIT, 60_000, "t", "t", Track.SWING, 70_000
        )
        oms.submit(buy, "c1", clock.now())
        oms.submit(low, "c2", clock.now())
        for frame in bars(session.open, [70_000, 70_100, 70_200]):
            clock.advance_to(frame.end)
            venue.on_frame(frame)
            engine.spine.settle(oms.broker.drain_events())
            engine.runner.run_cycle(frame, frame.end, session_view(engine.calendar)(frame.end))
        idle()
        assert not [ln for ln in lines if ln.startswith("close")], "nothing is due before 15:30"
        clock.advance_to(session.close + timedelta(seconds=1))
        idle()
        assert [ln for ln in lines if ln.startswith("close 2026-12-28: ")], lines

        orders = {o.qty: o for o in oms.orders.values()}
        assert orders[10].status is OrderStatus.FILLED
        # KRX ends day orders at the close: the venue's expiry is booked before the chore looks
        assert orders[5].status is OrderStatus.EXPIRED
        assert not oms.open_orders()
        ledger = engine.store.load_ledger()
        assert len(ledger) == 1
        saved = engine.store.load_state(REPORT_KEY + "2026-12-28")
    finally:
        engine.close()
    path = tmp_path / "var" / "reports" / f"{books.run_id}-2026-12-28.json"
    report = json.loads(path.read_text())
    assert report == saved
    assert (report["fills"], report["buys"], report["sells"]) == (1, 1, 0)
    assert report["bought_krw"] == ledger[0].amount == 10 * ledger[0].price
    assert report["commission"] == ledger[0].commission > 0
    assert report["orders"] == {"FILLED": 1, "EXPIRED": 1}
    assert report["canceled_at_close"] == 0
    assert report["day_pnl"] == report["end_equity"] - report["start_equity"]
