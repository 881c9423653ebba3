"""The close chore against the KIS fake: the day report is one consistent picture.

A new-user walkthrough of a live day found the report at the close listing
``"orders": {"SUBMITTED": 2, ...}`` beside ``"canceled_at_close": 2``: KIS acks a cancel at once
and sends its CANCELED notice over the WebSocket afterwards, and the report was computed in
between. The chore now waits (bounded) for the notices; an order whose cancel is still not
confirmed is counted as CANCEL_REQUESTED, never as a working SUBMITTED order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kis_kit import CALENDAR, DAY, INSTRUMENTS, OPEN, PRICES, SAMSUNG, UNIVERSE, Tape

from qts.app.live_books import live_books
from qts.app.trading_day import CANCEL_REQUESTED, REPORT_KEY, day_report, service_chores
from qts.app.wiring import build_engine
from qts.brokers.kis import KisBroker
from qts.brokers.kis.fake import FakeKisServer
from qts.core.clock import SimulatedClock
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import OrderDecision
from qts.engines.risk import RiskLimits
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track


def resting_buy(limit: int) -> OrderDecision:
    """A limit buy far below the market: it rests at the venue until the close."""
    return OrderDecision(
        SAMSUNG, OrderSide.BUY, 5, OrderType.LIMIT, limit, "t", "t", Track.SWING, 70_000
    )


def close_day(
    broker: KisBroker, fake: FakeKisServer, tmp_path: Path, cancel_wait_s: float
) -> tuple[dict[str, object], dict[str, object] | None, dict[str, OrderStatus], list[str]]:
    """Two day orders resting at the venue, then the close chore; the report file, the stored
    report, the orders' statuses in the books and the chore's lines."""
    books = live_books("kis", "paper", "test-account", db=tmp_path / "var" / "books.sqlite")
    engine = build_engine(
        run_id=books.run_id, mode="paper", universe=UNIVERSE, instruments=INSTRUMENTS,
        strategies=[], initial_cash=100_000_000, fees="krx", limits=RiskLimits(), start=OPEN,
        db=books.db, durable=True, participation=1.0, latency_ms=0,
        reference_prices=dict(PRICES), broker=lambda _clock: broker,
    )  # fmt: skip
    close = CALENDAR.session(DAY).close
    clock = SimulatedClock(OPEN)  # the run's (venue) clock
    lines: list[str] = []
    idle = service_chores(
        engine, books, CALENDAR, clock, lines.append, every_s=0, cancel_wait_s=cancel_wait_s
    )
    try:
        oms = engine.oms
        for i, limit in enumerate((60_000, 61_000)):
            assert oms.submit(resting_buy(limit), f"c{i}", OPEN).status == "submitted"
        fake.advance(Tape().frame())  # a bar trades at 70,000: the buys rest
        idle()
        assert len(oms.open_orders()) == 2
        clock.advance_to(close)
        idle()  # the close chore
        statuses = {o.client_order_id: o.status for o in oms.orders.values()}
        saved = engine.store.load_state(REPORT_KEY + DAY.isoformat())
    finally:
        engine.close()
    path = books.db.parent / "reports" / f"{books.run_id}-{DAY.isoformat()}.json"
    return json.loads(path.read_text()), saved, statuses, lines


def test_the_report_counts_the_cancels_the_venue_confirmed(
    fake: FakeKisServer, connect: Callable[..., KisBroker], tmp_path: Path
) -> None:
    report, saved, statuses, lines = close_day(connect(), fake, tmp_path, cancel_wait_s=10.0)
    assert report == saved
    assert report["canceled_at_close"] == 2
    assert report["orders"] == {"CANCELED": 2}, report  # was {"SUBMITTED": 2}
    assert set(statuses.values()) == {OrderStatus.CANCELED}
    assert any(ln.startswith(f"close {DAY}: 2 open order(s) canceled; ") for ln in lines), lines


def test_an_unconfirmed_cancel_is_never_reported_as_working(
    fake: FakeKisServer, connect: Callable[..., KisBroker], tmp_path: Path
) -> None:
    """No wait at all: whatever the notices' timing, each canceled order is CANCELED or
    CANCEL_REQUESTED in the report, and the books agree."""
    report, saved, statuses, _ = close_day(connect(), fake, tmp_path, cancel_wait_s=0.0)
    assert report == saved
    orders = report["orders"]
    assert isinstance(orders, dict)
    assert set(orders) <= {"CANCELED", CANCEL_REQUESTED}, report
    assert sum(orders.values()) == report["canceled_at_close"] == 2
    confirmed = sum(1 for s in statuses.values() if s is OrderStatus.CANCELED)
    assert orders.get("CANCELED", 0) == confirmed


def test_day_report_buckets_requested_cancels_from_the_store(
    fake: FakeKisServer, connect: Callable[..., KisBroker], tmp_path: Path
) -> None:
    """``day_report`` over a real store whose orders are still SUBMITTED: the ids whose cancel
    was requested count as CANCEL_REQUESTED, the others keep their status."""
    broker = connect()
    engine = build_engine(
        run_id="r", mode="paper", universe=UNIVERSE, instruments=INSTRUMENTS, strategies=[],
        initial_cash=100_000_000, fees="krx", limits=RiskLimits(), start=OPEN,
        db=tmp_path / "books.sqlite", durable=True, participation=1.0, latency_ms=0,
        reference_prices=dict(PRICES), broker=lambda _clock: broker,
    )  # fmt: skip
    try:
        ids = [
            engine.oms.submit(resting_buy(limit), f"c{i}", OPEN).client_order_id
            for i, limit in enumerate((60_000, 61_000, 62_000))
        ]
    finally:
        engine.close()
    store = SqliteStore(str(tmp_path / "books.sqlite"))
    try:
        report = day_report(store, "r", DAY, 2, "NORMAL", cancel_requested={ids[0], ids[2]})
    finally:
        store.close()
    assert report.orders == {CANCEL_REQUESTED: 2, "SUBMITTED": 1}
