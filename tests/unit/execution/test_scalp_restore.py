"""Restoring the scalp pipeline after a crash (``kill -9``) when an execution's monitoring window
passed while the process was down: it is resolved from the books (brought in line with the
broker by start-up reconciliation) and never stays running, and an exit is not blocked by an
execution that can no longer make progress.

Each test runs the real order manager over a SQLite store and the simulated exchange's book;
the "crash" drops the process's objects without closing anything, the restart builds new ones
over the same books and the same venue, reconciles like a real broker's run and recovers.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from scalp_kit import SYM, Kit

from qts.app.wiring import restore_account
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import OrderDecision
from qts.execution.stages.pipeline import STATE_KEY
from qts.execution.stages.state import ExecState
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track

BUY, SELL = OrderSide.BUY, OrderSide.SELL
STRATEGY = "scalp_reversion"
CASH = 100_000_000


def holding_with_a_resting_exit(db: Path) -> tuple[Kit, str]:
    """20 shares bought, then their exit resting above the market (its window running)."""
    k = Kit(store=SqliteStore(str(db)))
    _, status = k.decide(BUY, 20)
    assert status == "submitted" and k.account.held_qty(SYM) == 20
    k.quotes(bid=74_000, ask=76_000)  # the bid moves away: the exit's limit rests
    k.clock.advance(timedelta(seconds=5))
    eid, status = k.decide(SELL, 20, price=75_500, cycle="c2")
    assert status == "submitted"
    assert [o.client_order_id for o in k.sim.open_orders()] == [f"{eid}.1"]
    plan = k.store.load_state(STATE_KEY)
    assert plan is not None and plan[eid]["state"] == "MONITORING"
    return k, eid


def restart(k: Kit, db: Path, down: timedelta) -> Kit:
    """A new process ``down`` later over the same books and venue: reconcile, then recover."""
    k.clock.advance(down)
    k2 = Kit(store=SqliteStore(str(db)), quotes=False)
    k2.clock = k.clock
    k2.pipeline.now = k.clock.now
    k2.sim = k.sim
    k2.broker.inner = k.sim
    k2.pipeline.market.broker = k.sim  # type: ignore[attr-defined]
    k2.account = k2.oms.account = restore_account(k2.store, CASH)
    k2.inputs.held = k2.account.held_qty
    report = k2.oms.reconcile(k2.clock.now(), cancel_unknown=True)  # a real broker's run
    assert report.clean, report.problems
    assert k2.pipeline.recover(k2.clock.now()) == 1
    return k2


def exit_decision(qty: int) -> OrderDecision:
    """The strategy's exit, priced above the bid: it rests."""
    return OrderDecision(
        SYM, SELL, qty, OrderType.LIMIT, None, "exit", STRATEGY, Track.SCALP, 75_500
    )


def test_exit_ended_at_the_broker_while_down_is_settled_and_the_next_exit_goes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.sqlite"
    k, eid = holding_with_a_resting_exit(db)
    assert k.sim.cancel(f"{eid}.1").accepted  # the broker ends it; the process never hears
    k2 = restart(k, db, timedelta(hours=3))
    assert k2.oms.orders[f"{eid}.1"].status is OrderStatus.CANCELED  # the broker's word
    assert eid not in k2.pipeline.live
    done = k2.pipeline.finished[-1]
    assert done.execution_id == eid and done.state is ExecState.COMPLETE
    assert done.outcome.startswith("nothing filled")
    assert k2.store.load_state(STATE_KEY) == {}  # nothing left to restore
    assert not k2.pipeline.running(SYM, STRATEGY, SELL)
    assert k2.escapes.flattened == [] and k2.escapes.codes == []  # no escape for a settled one
    # the strategy's exit comes again: it is sent, for what is held
    r = k2.pipeline.execute(exit_decision(20), "c3", k2.clock.now())
    assert r.status == "submitted"
    assert [o.client_order_id for o in k2.sim.open_orders()] == [f"{r.client_order_id}.1"]


def test_fills_while_down_are_booked_once_and_the_rest_is_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    k, eid = holding_with_a_resting_exit(db)
    price = k.pipeline.live[eid].slices[0].price
    assert price is not None
    k.sim.on_print(SYM, price, 8)  # 8 trade at the resting exit's price while down
    assert [f.qty for f in k.sim.fills() if f.client_order_id == f"{eid}.1"] == [8]
    k2 = restart(k, db, timedelta(hours=3))
    assert k2.account.held_qty(SYM) == 12  # reconciliation booked the fill from the broker
    done = k2.pipeline.finished[-1]
    assert done.execution_id == eid and done.state is ExecState.COMPLETE
    assert done.outcome == "partial" and done.filled == 8
    assert ("FS093", f"{SYM}: filled 8/20, remainder cancelled") in k2.escapes.codes
    k2.pump()  # the venue's CANCELED notice
    assert k2.sim.open_orders() == []
    assert k2.oms.orders[f"{eid}.1"].status is OrderStatus.CANCELED
    assert not k2.pipeline.running(SYM, STRATEGY, SELL)
    # booked once: the books' fills of the exit are the broker's, no more
    assert k2.oms.orders[f"{eid}.1"].filled_qty == 8
    assert k2.account.held_qty(SYM) == 12
    r = k2.pipeline.execute(exit_decision(20), "c3", k2.clock.now())
    assert r.status == "submitted" and r.qty == 12  # shrunk to what is held: nothing sold twice


def test_exit_still_open_at_the_broker_is_adopted_with_a_fresh_window(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    k, eid = holding_with_a_resting_exit(db)
    k2 = restart(k, db, timedelta(hours=3))
    ex = k2.pipeline.live[eid]
    assert ex.state is ExecState.MONITORING
    assert ex.monitor_until == k2.clock.now() + timedelta(seconds=60)
    # its order still works at the broker: a second exit would sell twice
    assert k2.pipeline.running(SYM, STRATEGY, SELL)
    assert [o.client_order_id for o in k2.sim.open_orders()] == [f"{eid}.1"]
    k2.advance(timedelta(seconds=60))  # the fresh window ends: AdaptiveAdjust, as at a deadline
    assert ex.rounds == 1
    for _ in range(3):
        k2.advance(timedelta(seconds=1))
    assert ex.state is ExecState.ESCAPED and eid not in k2.pipeline.live
    assert k2.sim.open_orders() == []
    assert k2.escapes.flattened == [(SYM, "EMERGENCY_ESCAPE: unfilled after the adjustments")]


def test_a_stored_deadline_far_ahead_of_the_clock_is_capped_at_a_fresh_window(
    tmp_path: Path,
) -> None:
    """A deadline written on another clock (the venue's replay time, hours ahead of the wall
    clock the pipeline runs on) would never come: restored, it is at most a fresh window."""
    db = tmp_path / "run.sqlite"
    k, eid = holding_with_a_resting_exit(db)
    plan = k.store.load_state(STATE_KEY)
    assert plan is not None
    stale = k.clock.now() + timedelta(hours=5, minutes=30)
    plan[eid]["monitor_until"] = stale.isoformat()
    k.store.save_state(STATE_KEY, plan)
    k2 = restart(k, db, timedelta(seconds=10))
    ex = k2.pipeline.live[eid]
    assert ex.monitor_until == k2.clock.now() + timedelta(seconds=60)
    k2.advance(timedelta(seconds=60))
    assert ex.rounds == 1  # the monitor's deadline came


def test_the_deadline_is_on_the_pipelines_clock_when_the_decision_time_runs_ahead() -> None:
    """A replayed feed (``--speed``) stamps decisions hours ahead of the wall clock the pipeline
    runs on: the fill monitor still ends one window later on its own clock."""
    k = Kit()
    k.decide(BUY, 20)
    k.quotes(bid=74_000, ask=76_000)
    ahead = k.clock.now() + timedelta(hours=5)
    r = k.pipeline.execute(exit_decision(20), "c2", ahead)
    assert r.status == "submitted"
    ex = k.pipeline.live[r.client_order_id]
    assert ex.monitor_until == k.clock.now() + timedelta(seconds=60)
    k.advance(timedelta(seconds=60))
    assert ex.rounds == 1


def test_a_live_exit_whose_order_ended_unheard_does_not_block_the_next_exit() -> None:
    """The venue ended the exit's order and the books know it, but the pipeline missed the
    notice: the execution can no longer make progress, so PreCheck's guard lets the next exit
    through and the stalled one is settled from the books."""
    k = Kit()
    k.decide(BUY, 20)
    k.quotes(bid=74_000, ask=76_000)
    r1 = k.pipeline.execute(exit_decision(20), "c2", k.clock.now())
    coid = f"{r1.client_order_id}.1"
    assert k.sim.cancel(coid).accepted
    for ev in k.sim.drain_events():  # booked, never handed to the pipeline
        k.oms.apply_update(ev)  # type: ignore[arg-type]
    assert k.oms.orders[coid].status is OrderStatus.CANCELED
    assert r1.client_order_id in k.pipeline.live
    assert not k.pipeline.running(SYM, STRATEGY, SELL)
    r2 = k.pipeline.execute(exit_decision(20), "c3", k.clock.now())
    assert r2.status == "submitted"
    assert r1.client_order_id not in k.pipeline.live
    assert k.pipeline.finished[-1].execution_id == r1.client_order_id
    assert k.pipeline.finished[-1].state is ExecState.COMPLETE
