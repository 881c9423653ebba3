"""Property: whatever the market does (quotes, prints, time, an escape), every execution ends in
a terminal state, never fills more than it ordered, and the books agree with the venue."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scalp_kit import SYM, Kit

from qts.execution.stages.state import TERMINAL
from qts.model.enums import OrderSide

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["quote", "print", "wait", "escape", "buy", "sell"]),
        st.integers(-3, 3),
        st.integers(1, 400),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_executions_always_end_and_never_overfill(script: list[Step]) -> None:
    k = Kit()
    mid = 75_000
    for n, (kind, move, size) in enumerate(script):
        if kind == "quote":
            mid = max(70_000, mid + move * 100)
            k.quotes(bid=mid, ask=mid + 100, qty=size)
        elif kind == "print":
            k.sim.on_print(SYM, max(70_000, mid + move * 100), size)
            k.pump()
        elif kind == "wait":
            k.advance(timedelta(milliseconds=size * 250))
        elif kind == "escape":
            k.pipeline.escape("MANUAL")
            k.pump()
        elif kind == "buy":
            k.decide(OrderSide.BUY, size, price=mid + move * 100, cycle=f"c{n}")
        elif kind == "sell" and k.account.held_qty(SYM) > 0:
            k.decide(OrderSide.SELL, size, price=mid, cycle=f"c{n}")
    for _ in range(8):  # time enough for every monitor, adjustment and escape
        k.advance(timedelta(seconds=61))
    assert not k.pipeline.live
    for ex in k.pipeline.finished:
        assert ex.state in TERMINAL
        assert ex.filled <= ex.qty
        for s in ex.slices:
            assert 0 <= s.filled <= s.spec.qty
    assert k.sim.open_orders() == [] or all(
        o.client_order_id not in k.pipeline.by_slice for o in k.sim.open_orders()
    )
    assert k.sim.balance().holdings.get(SYM, 0) == k.account.held_qty(SYM)
    assert k.sim.balance().cash == k.account.cash
