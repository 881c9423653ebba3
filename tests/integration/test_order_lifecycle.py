"""The order manager against the journaled simulated exchange, in process, with real objects.

Each test builds an engine through the composition root (``build_engine``), feeds it 1-minute
frames replayed from ``BarSeries`` and drives the order manager directly: submit, let the venue
match a frame, book the venue's events. Restarts open a second engine on the same database.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, time
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.app.wiring import Engine, build_engine
from qts.core.ids import client_order_id
from qts.core.time import at
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import ExecutionResult, OrderDecision
from qts.engines.risk import RiskLimits
from qts.feeds.bars import BarSeries, to_epoch
from qts.feeds.replay import FrameTable
from qts.market.krx.calendar import KrxCalendar
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument
from qts.model.order import Order

RUN_ID = "it-order-lifecycle"
SAMSUNG, HYNIX, UNLISTED = "005930", "000660", "999990"
INSTRUMENTS = {s: Instrument.krx(s) for s in (SAMSUNG, HYNIX)}
UNIVERSE = Universe((SAMSUNG, HYNIX))
PRICE = {SAMSUNG: 70_000, HYNIX: 180_000}  # tick 100 in both bands
CASH = 100_000_000
D1 = date(2026, 3, 4)  # Wednesday, a KRX trading day
D2 = date(2026, 3, 5)  # Thursday
START = at(D1, time(8, 30))
CALENDAR = KrxCalendar()


def minute_series(symbol: str, day: date, minutes: int, volume: int) -> BarSeries:
    """Flat 1-minute bars from 09:00 KST at the symbol's price (on the tick grid)."""
    first = to_epoch(at(day, time(9, 0)))
    ts = first + 60 * np.arange(minutes, dtype=np.int64)
    price = np.full(minutes, PRICE[symbol], dtype=np.int64)
    vol = np.full(minutes, volume, dtype=np.int64)
    return BarSeries(symbol, ts, price, price, price, price, vol)


def frames(minutes_per_day: int, volume: int, days: tuple[date, ...] = (D1,)) -> list[BarFrame]:
    series = [
        BarSeries.concat([minute_series(s, d, minutes_per_day, volume) for d in days])
        for s in UNIVERSE.symbols
    ]
    table = FrameTable(series)
    assert table.universe == UNIVERSE
    return list(table.frames())


def new_engine(db: Path | None, participation: float = 1.0) -> Engine:
    return build_engine(
        run_id=RUN_ID,
        mode="paper",
        universe=UNIVERSE,
        instruments=INSTRUMENTS,
        strategies=[],
        initial_cash=CASH,
        fees="krx",
        limits=RiskLimits(),
        start=START,
        db=db,
        durable=db is not None,
        participation=participation,
        latency_ms=0,
        calendar=CALENDAR,
    )


def feed(engine: Engine, frame: BarFrame, book: bool = True) -> list[Fill]:
    """One bar at the venue; the clock ends at the bar's end (where the next bar starts)."""
    engine.clock.advance_to(frame.start)
    engine.venue.on_frame(frame)
    engine.clock.advance_to(frame.end)
    return engine.oms.process_events() if book else []


def decide(
    symbol: str,
    side: OrderSide,
    qty: int,
    limit: int | None = None,
) -> OrderDecision:
    return OrderDecision(
        symbol=symbol,
        action=side,
        qty=qty,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit,
        reason="test",
        strategy="manual",
        track=Track.SWING,
        price=limit or PRICE.get(symbol, 10_000),
    )


def submit(engine: Engine, decision: OrderDecision, cycle: str) -> ExecutionResult:
    return engine.oms.submit(decision, cycle, engine.clock.now())


def ledger_fill_ids(engine: Engine) -> list[str]:
    return [e.fill_id for e in engine.store.load_ledger()]


def venue_order_count(engine: Engine) -> int:
    return engine.venue.exchange.counters()["venue"]


# --- refusals ---------------------------------------------------------------------------------


def test_unknown_symbol_is_rejected_and_nothing_is_booked(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "run.sqlite")
    try:
        for f in frames(3, 10_000):
            feed(engine, f)
        res = submit(engine, decide(UNLISTED, OrderSide.BUY, 10), "c-unknown")
        assert res.status == "rejected"
        assert UNLISTED in res.message
        stored = engine.store.get_order(res.client_order_id)
        assert stored is not None and stored.status is OrderStatus.REJECTED
        assert UNLISTED in stored.reason
        assert venue_order_count(engine) == 0
        assert engine.store.load_ledger() == []
        assert engine.store.load_fills() == []
        assert engine.oms.account.cash == CASH
        assert engine.oms.account.open_positions() == []
        assert engine.oms.open_orders() == []
        assert engine.venue.balance().cash == CASH
    finally:
        engine.close()


def test_limit_outside_daily_band_or_off_tick_is_rejected(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "run.sqlite")
    try:
        day1, day2 = frames(3, 10_000, (D1, D2))[:3], frames(3, 10_000, (D1, D2))[3:]
        for f in day1:
            feed(engine, f)
        feed(engine, day2[0])  # day 2 opens: base price = day 1's last close, 70,000
        limits = engine.venue.exchange.price_limits(SAMSUNG, D2)
        assert limits is not None and (limits.lower, limits.upper) == (49_000, 91_000)

        above = submit(engine, decide(SAMSUNG, OrderSide.BUY, 1, limit=91_100), "c-above")
        below = submit(engine, decide(SAMSUNG, OrderSide.BUY, 1, limit=48_900), "c-below")
        off_tick = submit(engine, decide(SAMSUNG, OrderSide.BUY, 1, limit=70_050), "c-tick")
        for res in (above, below):
            assert res.status == "rejected"
            assert "limit" in res.message.lower()
            assert "91000" in res.message or "91,000" in res.message
        assert off_tick.status == "rejected"
        assert "tick" in off_tick.message.lower()
        for res in (above, below, off_tick):
            stored = engine.store.get_order(res.client_order_id)
            assert stored is not None and stored.status is OrderStatus.REJECTED

        # the band's edge itself is a valid price: the refusals above are about the band
        edge = submit(engine, decide(SAMSUNG, OrderSide.BUY, 1, limit=91_000), "c-edge")
        assert edge.status == "submitted"
        feed(engine, day2[1])
        assert len(engine.store.load_ledger()) == 1
        assert engine.oms.account.held_qty(SAMSUNG) == 1
        assert engine.oms.account.reconcile() == []
    finally:
        engine.close()


# --- partial fills ----------------------------------------------------------------------------


def test_participation_fills_an_order_over_several_bars(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "run.sqlite", participation=0.1)
    try:
        bars = frames(8, 300)  # 10 % of 300 shares: at most 30 per bar
        feed(engine, bars[0])  # a price to hold cash at for a market buy
        res = submit(engine, decide(SAMSUNG, OrderSide.BUY, 100), "c-partial")
        assert res.status == "submitted"
        coid = res.client_order_id

        statuses: list[OrderStatus] = []
        per_bar: list[int] = []
        for f in bars[1:6]:
            booked = feed(engine, f)
            per_bar.append(sum(x.qty for x in booked))
            stored = engine.store.get_order(coid)
            assert stored is not None
            statuses.append(stored.status)
        assert per_bar == [30, 30, 30, 10, 0]
        assert statuses == [OrderStatus.PARTIALLY_FILLED] * 3 + [OrderStatus.FILLED] * 2

        rows = engine.store.load_ledger()
        assert [r.qty for r in rows] == [30, 30, 30, 10]
        assert [r.position_after for r in rows] == [30, 60, 90, 100]
        assert len({r.fill_id for r in rows}) == 4
        assert all(r.client_order_id == coid and r.price == PRICE[SAMSUNG] for r in rows)
        stored = engine.store.get_order(coid)
        assert stored is not None and stored.filled_qty == 100 and len(stored.fill_ids) == 4
        account = engine.oms.account
        assert account.held_qty(SAMSUNG) == 100
        assert account.cash == CASH + sum(r.net_amount for r in rows)
        assert account.cash == engine.venue.balance().cash
        assert account.reconcile() == []
        assert engine.oms.open_orders() == []
    finally:
        engine.close()


# --- crash recovery ---------------------------------------------------------------------------


def test_crash_between_venue_fill_and_booking_is_booked_once_on_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.sqlite"
    bars = frames(6, 10_000)
    engine = new_engine(db)
    feed(engine, bars[0])
    submit(engine, decide(HYNIX, OrderSide.BUY, 3), "c1")
    assert len(feed(engine, bars[1])) == 1  # booked normally
    submit(engine, decide(SAMSUNG, OrderSide.BUY, 10), "c2")
    submit(engine, decide(HYNIX, OrderSide.SELL, 2), "c2")
    feed(engine, bars[2], book=False)  # the venue fills both; the process dies before booking
    venue_fills = engine.venue.fills()
    assert len(venue_fills) == 3
    assert len(engine.store.load_ledger()) == 1
    engine.close()

    engine = new_engine(db)
    try:
        assert engine.reconcile.fills_booked == 2
        assert engine.reconcile.clean, engine.reconcile.problems
        ids = ledger_fill_ids(engine)
        assert sorted(ids) == sorted(f.fill_id for f in venue_fills)
        assert len(ids) == len(set(ids))
        balance = engine.venue.balance()
        account = engine.oms.account
        assert account.cash == balance.cash
        held = {p.symbol: p.qty for p in account.open_positions()}
        assert held == {s: q for s, q in balance.holdings.items() if q} == {SAMSUNG: 10, HYNIX: 1}
        assert account.reconcile() == []
        for coid in {f.client_order_id for f in venue_fills}:
            stored = engine.store.get_order(coid)
            assert stored is not None and stored.status is OrderStatus.FILLED
        # replaying the bar the venue already matched changes nothing
        assert feed(engine, bars[2]) == []
    finally:
        engine.close()

    engine = new_engine(db)  # a second restart has nothing left to book
    try:
        assert engine.reconcile.fills_booked == 0
        assert sorted(ledger_fill_ids(engine)) == sorted(f.fill_id for f in venue_fills)
        assert engine.oms.account.reconcile() == []
    finally:
        engine.close()


def test_order_filled_before_its_answer_was_stored_is_booked_once_on_restart(
    tmp_path: Path,
) -> None:
    """The process dies after the venue took the order and filled it, before the books stored
    the venue's answer (the order is NEW there): the restart books the fill on it (it was an
    illegal NEW -> FILLED that stopped the run)."""
    db = tmp_path / "run.sqlite"
    bars = frames(6, 10_000)
    engine = new_engine(db)
    feed(engine, bars[0])
    sent = submit(engine, decide(SAMSUNG, OrderSide.BUY, 10), "c1")
    assert sent.status == "submitted"
    feed(engine, bars[1], book=False)  # filled at the venue; the answer is never stored
    venue_fills = engine.venue.fills()
    venue_order = engine.venue.order(sent.client_order_id)
    assert venue_order is not None and len(venue_fills) == 1
    stored = engine.store.get_order(sent.client_order_id)
    assert stored is not None
    engine.close()
    # what the books held when the process died: the order as persisted before it was sent
    store = SqliteStore(str(db))
    store.save_order(
        Order(
            stored.client_order_id,
            stored.symbol,
            stored.side,
            stored.order_type,
            stored.qty,
            stored.created_at,
            stored.limit_price,
            stored.strategy,
            stored.track,
        )
    )
    reread = store.get_order(sent.client_order_id)
    assert reread is not None and reread.status is OrderStatus.NEW
    store.close()

    engine = new_engine(db)
    try:
        assert engine.reconcile.fills_booked == 1
        assert engine.reconcile.clean, engine.reconcile.problems
        order = engine.store.get_order(sent.client_order_id)
        assert order is not None and order.status is OrderStatus.FILLED
        assert order.venue_order_id == venue_order.venue_order_id
        assert ledger_fill_ids(engine) == [venue_fills[0].fill_id]
        assert engine.oms.account.held_qty(SAMSUNG) == 10
        assert engine.oms.account.reconcile() == []
    finally:
        engine.close()


def test_stored_new_order_never_sent_is_sent_once_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    bars = frames(6, 10_000)
    engine = new_engine(db)
    for f in bars[:2]:
        feed(engine, f)
    created = engine.clock.now()
    engine.close()

    # the submit path died after persisting the order and before reaching the venue
    cycle = "c-interrupted"
    coid = client_order_id(RUN_ID, cycle, "manual", SAMSUNG, OrderSide.BUY.value)
    store = SqliteStore(str(db))
    store.save_order(
        Order(coid, SAMSUNG, OrderSide.BUY, OrderType.MARKET, 10, created, None, "manual")
    )
    store.close()

    engine = new_engine(db)
    try:
        assert engine.reconcile.orders_unknown_at_venue == [coid]
        assert engine.reconcile.clean, engine.reconcile.problems
        assert engine.venue.order(coid) is None
        engine.clock.advance_to(created)
        sent_before = venue_order_count(engine)

        first = submit(engine, decide(SAMSUNG, OrderSide.BUY, 10), cycle)
        assert first.client_order_id == coid
        assert first.status == "submitted"
        assert venue_order_count(engine) == sent_before + 1
        assert engine.venue.order(coid) is not None

        again = submit(engine, decide(SAMSUNG, OrderSide.BUY, 10), cycle)
        assert again.client_order_id == coid
        assert again.status == "duplicate"
        assert venue_order_count(engine) == sent_before + 1

        for f in bars[2:]:
            feed(engine, f)
        rows = engine.store.load_ledger()
        assert [(r.client_order_id, r.qty) for r in rows] == [(coid, 10)]
        assert engine.oms.account.held_qty(SAMSUNG) == 10
        assert engine.oms.account.reconcile() == []
    finally:
        engine.close()


# --- idempotent booking -----------------------------------------------------------------------


def unbooked() -> tuple[Engine, list[Fill]]:
    """An in-memory engine whose venue filled two buys in several parts, none of them booked."""
    engine = new_engine(None, participation=0.1)
    bars = frames(6, 200)  # at most 20 shares per bar and symbol
    feed(engine, bars[0])
    submit(engine, decide(SAMSUNG, OrderSide.BUY, 50), "c1")
    submit(engine, decide(HYNIX, OrderSide.BUY, 45), "c1")
    for f in bars[1:]:
        feed(engine, f, book=False)
    engine.venue.drain_events()  # the queued events are lost with the process
    fills = engine.venue.fills()
    assert len(fills) == 6
    return engine, fills


def account_state(engine: Engine) -> tuple[object, ...]:
    account = engine.oms.account
    return (
        account.cash,
        dict(account.pending),
        {p.symbol: (p.qty, p.cost_basis) for p in account.open_positions()},
        account.ledger.total_fees(),
        sorted(e.fill_id for e in account.ledger.entries),
        sorted(e.fill_id for e in engine.store.load_ledger()),
        {o.client_order_id: (o.status, o.filled_qty) for o in engine.oms.orders.values()},
    )


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_book_fill_books_each_fill_once_in_any_order(data: st.DataObject) -> None:
    in_order, fills = unbooked()
    try:
        assert all(in_order.oms.book_fill(f) for f in fills)
        expected = account_state(in_order)
    finally:
        in_order.close()

    engine, fills = unbooked()
    try:
        extra = data.draw(st.lists(st.sampled_from(fills), max_size=2 * len(fills)), "dupes")
        feed_order = data.draw(st.permutations([*fills, *extra]), "order")
        booked = [f.fill_id for f in feed_order if engine.oms.book_fill(f)]
        assert Counter(booked) == Counter(f.fill_id for f in fills)
        assert account_state(engine) == expected
        assert engine.oms.account.reconcile() == []
        assert engine.oms.reconcile(engine.clock.now()).fills_booked == 0
    finally:
        engine.close()


def test_unbooked_helper_really_leaves_fills_unbooked() -> None:
    """Guards the property above: its fills start unbooked, so booking them is real work."""
    engine, fills = unbooked()
    try:
        assert engine.store.load_ledger() == []
        assert engine.oms.account.cash == CASH
        assert sorted(f.qty for f in fills) == [5, 10, 20, 20, 20, 20]
    finally:
        engine.close()
