"""plan_exit: an emergency exit never asks the venue for more than held minus pending sells."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qts.execution.exit_room import PendingSell, plan_exit
from qts.model.enums import OrderType

pending_st = st.lists(
    st.builds(
        PendingSell,
        st.uuids().map(str),
        st.integers(1, 5_000),
        st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
        st.booleans(),
    ),
    max_size=4,
)


@given(st.integers(0, 10_000), pending_st, st.integers(0, 12_000), st.booleans())
def test_never_more_than_the_orderable_quantity(
    held: int, pending: list[PendingSell], qty: int, full: bool
) -> None:
    plan = plan_exit(held, pending, qty, full=full)
    working = sum(p.remaining for p in pending)
    assert 0 <= plan.send <= min(qty, max(0, held - working))
    if plan.send < min(qty, held):
        assert plan.note  # a shortfall is always explained
    cancelled = {p.client_order_id for p in pending if p.client_order_id in plan.cancel}
    for p in pending:
        if p.client_order_id in cancelled:
            assert full and p.order_type is OrderType.LIMIT and not p.emergency


def test_the_field_case_stands_aside_and_a_full_exit_cancels_the_limit() -> None:
    eteda = [PendingSell("eteda-1", 6_529, OrderType.LIMIT, emergency=False)]
    half = plan_exit(6_529, eteda, 3_264, full=False)
    assert half.send == 0 and half.cancel == ()
    full = plan_exit(6_529, eteda, 6_529, full=True)
    assert full.send == 0 and full.cancel == ("eteda-1",)
    market = [PendingSell("eteda-2", 6_529, OrderType.MARKET, emergency=False)]
    assert plan_exit(6_529, market, 6_529, full=True).cancel == ()  # it will fill anyway
    partial = [PendingSell("eteda-3", 1_000, OrderType.LIMIT, emergency=False)]
    assert plan_exit(6_529, partial, 6_529, full=False).send == 5_529
