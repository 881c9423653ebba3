"""§12.6 oracles through the pipeline on the simulated exchange's book (#45–#50)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scalp_kit import SYM, Kit

from qts.brokers.base import Ack
from qts.data.sqlite import SqliteStore
from qts.engines.contracts import OrderDecision
from qts.execution.stages.adjust import SlippageConfig, improved_price
from qts.execution.stages.pipeline import STATE_KEY, ScalpConfig
from qts.execution.stages.precheck import precheck
from qts.execution.stages.send import send_with_retry
from qts.execution.stages.state import ExecState
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_send_oracle_timeout_timeout_ok_is_three_calls_one_sent() -> None:
    answers: list[object] = [TimeoutError(), TimeoutError(), Ack("x", True, "V1")]
    calls: list[int] = []
    sleeps: list[float] = []

    def attempt() -> Ack:
        calls.append(1)
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        assert isinstance(a, Ack)
        return a

    out = send_with_retry(attempt, sleeps.append)
    assert out.sent and out.attempts == 3 and len(calls) == 3
    assert sleeps == [0.1, 0.1]  # 100 ms fixed backoff


def test_send_gives_up_after_three_attempts() -> None:
    calls: list[int] = []

    def attempt() -> Ack:
        calls.append(1)
        raise ConnectionError("down")

    out = send_with_retry(attempt, lambda s: None)
    assert not out.sent and out.transport_failed and out.error == "MAX_RETRIES_EXCEEDED"
    assert len(calls) == 3


def test_pipeline_retries_with_the_same_client_id_and_fills_at_once() -> None:
    k = Kit(failures=2)
    eid, status = k.decide(BUY, 50)
    assert status == "submitted"
    assert k.broker.submits == 3 and k.sleeps == [0.1, 0.1]
    assert len(k.sim.open_orders()) == 0
    assert k.account.held_qty(SYM) == 50  # a marketable limit took the ask at once
    assert k.pipeline.finished[-1].state is ExecState.COMPLETE
    (fill,) = k.sim.fills()
    assert fill.price == 75_100 and fill.client_order_id == f"{eid}.1"


def test_every_send_failing_raises_fs090_and_fails() -> None:
    k = Kit(failures=10)
    _, status = k.decide(BUY, 50)
    assert status == "error"
    assert k.pipeline.finished[-1].state is ExecState.FAILED
    assert ("FS090", f"{SYM}: every send failed") in k.escapes.codes
    assert k.broker.submits == 3


def test_precheck_shrinks_to_available_capital_or_fails() -> None:
    k = Kit()
    k.inputs.cash = lambda: 10 * 75_100 + 50
    r = precheck(
        k.inputs, symbol=SYM, strategy="s", side=BUY, qty=100, price=75_100, now=k.clock.now()
    )
    assert r.passed and r.qty == 10
    assert [c.name for c in r.checks] == ["POSITION", "CAPITAL", "BROKER", "MARKET", "RISK"]
    k.inputs.cash = lambda: 75_099
    r = precheck(
        k.inputs, symbol=SYM, strategy="s", side=BUY, qty=100, price=75_100, now=k.clock.now()
    )
    assert not r.passed and r.reason.startswith("INSUFFICIENT_CAPITAL")


def test_precheck_order_first_failure_wins() -> None:
    k = Kit()
    k.inputs.connected = False
    k.inputs.open = False
    r = precheck(k.inputs, symbol=SYM, strategy="s", side=BUY, qty=1, price=1, now=k.clock.now())
    assert r.reason.startswith("BROKER_DISCONNECTED") and k.inputs.reconnect_calls == 1
    k.inputs.reconnects = True
    r = precheck(k.inputs, symbol=SYM, strategy="s", side=BUY, qty=1, price=1, now=k.clock.now())
    assert r.reason.startswith("MARKET_CLOSED")
    r = precheck(k.inputs, symbol=SYM, strategy="s", side=SELL, qty=1, price=1, now=k.clock.now())
    assert r.reason.startswith("POSITION_INVALID")


def test_adjust_price_oracle_never_through_the_opposite_best() -> None:
    cfg = SlippageConfig()
    # 0.1 % of 75,000 is 75: onto the 100-won grid toward the market
    assert improved_price(BUY, 75_000, 75_000, 75_300, cfg) == 75_100
    assert improved_price(BUY, 75_000, 75_000, 75_000, cfg) == 75_000  # ask caps it
    assert improved_price(SELL, 75_000, 75_000, 74_900, cfg) == 74_900
    assert improved_price(SELL, 75_000, 75_000, 75_000, cfg) == 75_000
    # never more than 0.5 % from the decision price
    assert improved_price(BUY, 75_300, 75_000, 80_000, cfg) == 75_300


def test_unfilled_order_adjusts_three_times_then_escapes() -> None:
    k = Kit(config=ScalpConfig(slippage=SlippageConfig(price_improve_step_pct=0.001)))
    k.quotes(bid=74_000, ask=76_000)  # far away: the limit rests
    eid, status = k.decide(BUY, 10, price=74_500)
    assert status == "submitted"
    ex = k.pipeline.live[eid]
    first = ex.slices[0].price
    assert first is not None and k.sim.open_orders()[0].limit_price == first
    k.advance(timedelta(seconds=60))  # monitor timeout, nothing filled: round 1
    prices = [k.sim.open_orders()[0].limit_price]
    for _ in range(2):
        k.advance(timedelta(seconds=1))
        prices.append(k.sim.open_orders()[0].limit_price)
    assert ex.rounds == 3
    assert all(p is not None and p > first for p in prices) and prices == sorted(prices)
    assert all(p is not None and p <= 76_000 for p in prices)
    k.advance(timedelta(seconds=1))  # still unfilled after the last round: escape
    assert ex.state is ExecState.ESCAPED
    assert k.sim.open_orders() == []
    assert ("FS092", f"{SYM}: escape (unfilled after the adjustments)") in k.escapes.codes
    assert k.escapes.flattened == []  # nothing was bought: nothing to flatten


def test_partial_fill_at_monitor_timeout_cancels_the_rest_fs093() -> None:
    k = Kit()
    eid, _ = k.decide(BUY, 50)  # takes 100 at the ask? no: 50 of the 100 shown
    k2 = Kit()
    k2.quotes(qty=30)
    eid, _ = k2.decide(BUY, 50)
    ex = k2.pipeline.live[eid]
    assert ex.filled == 30  # the ask showed 30; the rest rests at the limit
    k2.advance(timedelta(seconds=60))
    assert ex.state is ExecState.COMPLETE and ex.outcome == "partial"
    assert any(c == "FS093" for c, _ in k2.escapes.codes)
    assert k2.sim.open_orders() == []
    assert k2.account.held_qty(SYM) == 30


def test_resting_slice_fills_when_a_print_trades_through() -> None:
    k = Kit()
    k.quotes(bid=74_000, ask=76_000)
    eid, _ = k.decide(BUY, 10, price=74_500)
    price = k.pipeline.live[eid].slices[0].price
    assert price is not None
    k.sim.on_print(SYM, price - 100, 1)
    k.pump()
    assert k.pipeline.finished[-1].execution_id == eid
    assert k.pipeline.finished[-1].state is ExecState.COMPLETE
    assert k.account.held_qty(SYM) == 10


def test_escape_cancels_pending_and_flattens_with_suspension_on_disconnect() -> None:
    k = Kit()
    k.quotes(qty=30)
    eid, _ = k.decide(BUY, 50)
    ex = k.pipeline.live[eid]
    assert ex.filled == 30 and len(k.sim.open_orders()) == 1
    assert k.pipeline.escape("BROKER_DISCONNECT") == 1
    assert ex.state is ExecState.ESCAPED
    k.pump()
    assert k.sim.open_orders() == []
    assert k.oms.orders[f"{eid}.1"].status is OrderStatus.CANCELED
    assert k.escapes.flattened == [(SYM, "EMERGENCY_ESCAPE: BROKER_DISCONNECT")]
    assert any(c == "FS092" for c, _ in k.escapes.codes)
    assert k.escapes.suspended == ["BROKER_DISCONNECT"]
    assert k.pipeline.escape("again") == 0  # an escape never runs twice


@pytest.mark.parametrize("state_after", ["NEW"])
def test_persist_before_act_no_slice_lost_across_a_crash(tmp_path, state_after: str) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "run.sqlite"

    class Crash(BaseException):
        pass

    k = Kit(store=SqliteStore(str(db)))
    k.quotes(qty=30)

    def crash(request: object) -> Ack:
        raise Crash

    k.broker.submit = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        k.decide(BUY, 50)
    plan = k.store.load_state(STATE_KEY)
    assert plan is not None and len(plan) == 1
    (eid,) = plan
    assert k.store.get_order(f"{eid}.1") is not None
    assert k.store.get_order(f"{eid}.1").status.value == state_after  # type: ignore[union-attr]
    k.store.close()
    # a new process over the same books (and the same venue, which never saw the order)
    k2 = Kit(store=SqliteStore(str(db)))
    k2.sim = k.sim
    k2.broker.inner = k.sim
    k2.pipeline.market.broker = k.sim  # type: ignore[attr-defined]
    assert k2.pipeline.recover(k2.clock.now()) == 1
    k2.pipeline.on_timer(k2.clock.now())
    k2.pump()
    venue_ids = [o.client_order_id for o in k.sim.open_orders()] + [
        f.client_order_id for f in k.sim.fills()
    ]
    assert set(venue_ids) == {f"{eid}.1"}
    assert k2.oms.orders[f"{eid}.1"].status is not OrderStatus.NEW


def test_sending_watchdog_fails_the_execution_and_cancels_what_was_sent() -> None:
    k = Kit(failures=2)
    k.quotes(bid=74_000, ask=76_000)  # the slice will rest once accepted
    k.pipeline.sleep = lambda s: k.clock.advance(timedelta(seconds=6))  # a very slow link
    _, status = k.decide(BUY, 10, price=74_500)
    assert status == "error"
    ex = k.pipeline.finished[-1]
    assert ex.state is ExecState.FAILED and ex.outcome == "SENDING watchdog (10 s)"
    assert k.sim.open_orders() == []  # accepted on the third attempt, then cancelled


def test_every_finished_execution_is_measured_and_feedback_failure_never_stops() -> None:
    class Broken:
        calls = 0

        def summary(self, symbol: str, strategy: str) -> object:
            raise RuntimeError("feedback store down")

        def record(self, measure: object) -> None:
            Broken.calls += 1
            raise RuntimeError("feedback store down")

    k = Kit()
    k.pipeline.feedback = Broken()  # type: ignore[assignment]
    for n in range(3):
        k.quotes()
        _, status = k.decide(BUY, 10, cycle=f"c{n}")
        assert status == "submitted"
    assert [e.state for e in k.pipeline.finished] == [ExecState.COMPLETE] * 3
    assert Broken.calls == 3  # one measure per execution (coverage), each failure swallowed
    assert k.account.held_qty(SYM) == 30


def test_a_decision_from_an_older_bar_is_not_killed_by_the_precheck_watchdog() -> None:
    """On a live feed the decision's bar time lags the run's clock (a replayed feed by minutes):
    the stage watchdogs time the pipeline's own work, not the bar's age."""
    k = Kit()
    od = OrderDecision(
        SYM, BUY, 50, OrderType.LIMIT, None, "test", "scalp_reversion", Track.SCALP, 75_000
    )
    bar_time = k.clock.now() - timedelta(minutes=50)
    r = k.pipeline.execute(od, "c1", bar_time)
    k.pump()
    assert r.status == "submitted", r.reason
    assert k.account.held_qty(SYM) == 50
