"""§12.5 oracle 41 (property): no transfer, promotion, demotion, rebalance or fill sequence ever
changes the sum of the pools other than by the fills' own cash, and Σ pools = equity to the won."""

from __future__ import annotations

from datetime import timedelta

from capital_kit import T0, entry, inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.flow import CapitalFlow
from qts.engines.capital.pool import POOLS, CapitalBook, TransferError
from qts.engines.state.profile import OperatingState
from qts.model.enums import OrderSide, Track

pools = st.sampled_from(POOLS)


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(st.integers(0, 10**11), min_size=3, max_size=3),
    moves=st.lists(st.tuples(pools, pools, st.integers(-10, 10**11)), max_size=30),
)
def test_transfers_keep_the_sum(start: list[int], moves: list[tuple[Track, Track, int]]) -> None:
    book = CapitalBook.open(dict(zip(POOLS, start, strict=True)))
    total = book.cash
    for src, dst, amount in moves:
        before = {t: book[t].cash for t in POOLS}
        try:
            book.transfer(src, dst, amount, "REBALANCE", "property", T0)
        except TransferError:
            assert {t: book[t].cash for t in POOLS} == before  # atomic: nothing changed
        assert book.cash == total
        assert all(book[t].cash >= 0 for t in POOLS)


step = st.tuples(
    st.integers(1, 3),  # days forward
    st.sampled_from(list(OperatingState)),  # state the day runs in
    st.integers(-3_000_000, 3_000_000),  # market move of the swing position
    st.booleans(),  # trade today
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=40), cash=st.integers(10**7, 10**10))
def test_pools_always_sum_to_equity(
    steps: list[tuple[int, OperatingState, int, bool]], cash: int
) -> None:
    f = CapitalFlow.new(CapitalConfig(), T0)
    ts, seq, held, value = T0, 0, 0, 0
    account = cash
    out = f.step(inputs(ts, account))
    for days, state, move, trade in steps:
        ts += timedelta(days=days)
        if f.machine.state is not state:
            f.machine.status.state = state
            f.request_rebalance(f"STATE {state}")
        entries = []
        if trade and held == 0 and out.view.available(Track.SWING) >= 1_000_000:
            seq += 1
            held, value = 10, 1_000_000
            entries.append(entry(seq, OrderSide.BUY, 10, 100_000, ts, after=10, fee=150))
            account -= 1_000_150
        elif trade and held:
            seq += 1
            entries.append(entry(seq, OrderSide.SELL, held, value // held, ts, after=0, fee=150))
            account += value - 150
            held, value = 0, 0
        elif held:
            value = held * max(1, value // held + move // 100)
        invested = {Track.SCALP: 0, Track.SWING: value, Track.PORTFOLIO: 0}
        out = f.step(inputs(ts, account, invested, entries=entries))
        assert "FS084" not in [c for c, _ in out.codes]  # the pools followed the fills exactly
        assert out.view.equity == account + value
        assert f.book is not None and f.book.cash == account
        assert out.row["scalp"] + out.row["swing"] + out.row["portfolio"] == out.row["equity"]
        for p in out.view.pools.values():
            assert p.available_capital == p.total_capital - p.invested_capital - p.reserved_capital
