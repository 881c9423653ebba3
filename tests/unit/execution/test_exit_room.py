"""plan_exit: an emergency exit never asks the venue for more than held minus pending sells,
and an exit that must happen replaces a resting limit sell that is not filling."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from qts.brokers.base import HOLDINGS_REFUSALS
from qts.brokers.kis.errors import ORDERABLE_QTY_EXCEEDED
from qts.brokers.sim import RejectCode
from qts.execution.emergency import BACKOFF_CAP, BACKOFF_FIRST, backoff
from qts.execution.exit_room import PendingSell, plan_exit
from qts.model.enums import OrderType, Urgency

pending_st = st.lists(
    st.builds(
        PendingSell,
        st.uuids().map(str),
        st.integers(1, 5_000),
        st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
        st.booleans(),
        st.one_of(st.none(), st.integers(1_000, 100_000)),
    ),
    max_size=4,
)


@given(
    st.integers(0, 10_000),
    pending_st,
    st.integers(0, 12_000),
    st.sampled_from(list(Urgency)),
    st.integers(0, 100_000),
)
def test_never_more_than_the_orderable_quantity(
    held: int, pending: list[PendingSell], qty: int, urgency: Urgency, market: int
) -> None:
    plan = plan_exit(held, pending, qty, urgency, market)
    working = sum(p.remaining for p in pending)
    # nothing sold twice: what is sent now plus every sell still working (those being
    # cancelled included, until the venue confirms) never exceeds the position
    assert 0 <= plan.send <= min(qty, max(0, held - working))
    if plan.send < min(qty, held):
        assert plan.note  # a shortfall is always explained
    for p in pending:
        if p.client_order_id in plan.cancel:
            assert urgency is not Urgency.NORMAL
            assert p.order_type is OrderType.LIMIT and not p.emergency
            if urgency is Urgency.FORCED:  # only a limit that is not filling
                assert p.limit_price is not None and p.limit_price > market > 0


def test_the_field_case_stands_aside_and_a_full_exit_cancels_the_limit() -> None:
    eteda = [PendingSell("eteda-1", 6_529, OrderType.LIMIT, emergency=False, limit_price=70_000)]
    half = plan_exit(6_529, eteda, 3_264, Urgency.FORCED, market=70_000)
    assert half.send == 0 and half.cancel == ()  # at the market: it is filling
    full = plan_exit(6_529, eteda, 6_529, Urgency.FLATTEN, market=70_000)
    assert full.send == 0 and full.cancel == ("eteda-1",)
    market = [PendingSell("eteda-2", 6_529, OrderType.MARKET, emergency=False)]
    assert plan_exit(6_529, market, 6_529, Urgency.FLATTEN).cancel == ()  # it will fill anyway
    partial = [PendingSell("eteda-3", 1_000, OrderType.LIMIT, emergency=False)]
    assert plan_exit(6_529, partial, 6_529, Urgency.NORMAL).send == 5_529


def test_a_forced_exit_replaces_a_limit_above_the_market() -> None:
    """The field case: a limit sell at 34,750 with the market at 34,400 from 14:55 to the
    close; the stop-loss and the halving stood aside behind it."""
    stale = [PendingSell("scalp-1.1", 22, OrderType.LIMIT, emergency=False, limit_price=34_750)]
    stop = plan_exit(22, stale, 22, Urgency.FORCED, market=34_400)
    assert stop.send == 0 and stop.cancel == ("scalp-1.1",)
    assert "34,750" in stop.note and "34,400" in stop.note
    assert plan_exit(22, stale, 11, Urgency.FORCED, market=34_400).cancel == ("scalp-1.1",)
    # a normal exit still waits; an unknown market replaces nothing short of a flatten
    assert plan_exit(22, stale, 22, Urgency.NORMAL, market=34_400).cancel == ()
    assert plan_exit(22, stale, 22, Urgency.FORCED, market=0).cancel == ()
    assert plan_exit(22, stale, 22, Urgency.FLATTEN, market=0).cancel == ("scalp-1.1",)


def test_the_back_off_of_a_lasting_refusal_doubles_up_to_its_cap() -> None:
    waits = [backoff(n) for n in range(1, 12)]
    assert waits[0] == BACKOFF_FIRST and waits[1] == 2 * BACKOFF_FIRST
    assert all(a <= b for a, b in pairwise(waits))
    assert waits[-1] == BACKOFF_CAP and backoff(10_000) == BACKOFF_CAP


def test_every_adapter_names_its_insufficient_holdings_refusal() -> None:
    assert ORDERABLE_QTY_EXCEEDED in HOLDINGS_REFUSALS  # KIS APBK9002
    assert RejectCode.INSUFFICIENT_HOLDINGS.value in HOLDINGS_REFUSALS  # the simulator, Kiwoom
