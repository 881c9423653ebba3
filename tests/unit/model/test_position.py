"""Average-cost positions in exact won: cost removal on sells, realized PnL, MAE/MFE, marks."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.model.enums import Track
from qts.model.position import Position

T0 = datetime(2024, 3, 4, 9, 0)
T1 = datetime(2024, 3, 5, 9, 0)


def bought(*lots: tuple[int, int]) -> Position:
    pos = Position("005930")
    for qty, price in lots:
        pos.buy(qty, price, T0, Track.SWING, "s1")
    return pos


def test_empty_position() -> None:
    pos = Position("005930")
    assert not pos.is_open
    assert pos.avg_price == 0
    assert (pos.market_value, pos.unrealized_pnl) == (0, 0)
    assert (pos.max_favorable_excursion, pos.max_adverse_excursion) == (0, 0)


def test_average_cost_is_exact() -> None:
    pos = bought((3, 100), (1, 101))
    assert (pos.qty, pos.cost_basis) == (4, 401)
    assert pos.avg_price == Decimal("100.25")
    pos = bought((3, 70_000))
    pos.buy(1, 70_100, T1, Track.SCALP, "other")
    assert pos.avg_price == Decimal(280_100) / 4
    # the first buy opened the position: its time, track and strategy stay
    assert (pos.opened_at, pos.track, pos.strategy) == (T0, Track.SWING, "s1")


def test_partial_sells_remove_floor_of_proportional_cost() -> None:
    pos = bought((3, 100), (1, 101))  # 4 shares, 401 won
    # 401 * 3 / 4 = 300.75 -> 300 removed (floor, not round)
    realized = pos.sell(3, 110)
    assert realized == 3 * 110 - 300
    assert (pos.qty, pos.cost_basis) == (1, 101)
    # the last share carries the won the floor left behind
    assert pos.sell(1, 90) == 90 - 101
    assert (pos.qty, pos.cost_basis) == (0, 0)
    assert pos.realized_pnl == (330 - 300) + (90 - 101)
    # everything paid went out as cost
    assert pos.realized_pnl == (3 * 110 + 90) - 401


def test_floor_on_several_partials() -> None:
    pos = bought((3, 100_001))  # 300_003
    assert pos.sell(1, 100_001) == 100_001 - 100_001  # 300_003 // 3 = 100_001 exactly
    pos = bought((7, 10), (1, 11))  # 8 shares, 81 won
    assert pos.sell(3, 10) == 30 - (81 * 3 // 8)  # 30 removed
    assert pos.cost_basis == 51
    assert pos.sell(2, 10) == 20 - (51 * 2 // 5)  # 20 removed (20.4)
    assert pos.cost_basis == 31
    assert pos.sell(3, 10) == 30 - 31  # full close removes all that is left
    assert pos.cost_basis == 0
    assert pos.realized_pnl == 80 - 81


def test_full_close_removes_all_cost_and_resets_open_state() -> None:
    pos = bought((10, 1_000))
    pos.mark(1_200)
    pos.mark(900)
    assert pos.sell(10, 1_050) == 500
    assert (pos.qty, pos.cost_basis, pos.realized_pnl) == (0, 0, 500)
    assert not pos.is_open
    assert pos.opened_at is None
    assert (pos.high_since_open, pos.low_since_open) == (0, 0)
    assert (pos.max_favorable_excursion, pos.max_adverse_excursion) == (0, 0)
    assert pos.unrealized_pnl == 0
    assert pos.last_price == 1_050


def test_realized_pnl_accumulates_across_round_trips() -> None:
    pos = bought((10, 1_000))
    pos.sell(10, 1_100)  # +1000
    pos.buy(5, 2_000, T1, Track.SCALP, "s2")
    assert (pos.opened_at, pos.track, pos.strategy) == (T1, Track.SCALP, "s2")
    assert (pos.high_since_open, pos.low_since_open) == (2_000, 2_000)  # fresh, not 1_100
    pos.sell(5, 1_900)  # -500
    assert pos.realized_pnl == 500


@pytest.mark.parametrize("qty", [0, -1, 11])
def test_bad_sell_quantity_raises_and_changes_nothing(qty: int) -> None:
    pos = bought((10, 1_000))
    before = copy.deepcopy(pos)
    with pytest.raises(ValueError, match="cannot sell"):
        pos.sell(qty, 1_000)
    assert pos == before


def test_sell_from_empty_raises() -> None:
    with pytest.raises(ValueError):
        Position("005930").sell(1, 100)


@pytest.mark.parametrize("qty", [0, -5])
def test_bad_buy_quantity_raises(qty: int) -> None:
    pos = Position("005930")
    with pytest.raises(ValueError, match="buy qty"):
        pos.buy(qty, 100, T0, Track.SWING, "")
    assert pos == Position("005930")


def test_mae_mfe_from_high_and_low_since_open() -> None:
    pos = bought((10, 1_000))
    assert (pos.high_since_open, pos.low_since_open) == (1_000, 1_000)
    assert (pos.max_favorable_excursion, pos.max_adverse_excursion) == (0, 0)
    pos.mark(1_200)
    pos.mark(900)
    pos.mark(1_000)
    assert (pos.high_since_open, pos.low_since_open) == (1_200, 900)
    assert pos.max_favorable_excursion == 1_200 * 10 - 10_000
    assert pos.max_adverse_excursion == 10_000 - 900 * 10
    # adding to the position re-prices both against the new cost
    pos.buy(10, 1_100, T1, Track.SWING, "s1")
    assert pos.cost_basis == 21_000
    assert pos.max_favorable_excursion == 1_200 * 20 - 21_000
    assert pos.max_adverse_excursion == 21_000 - 900 * 20


def test_excursions_never_negative() -> None:
    pos = bought((10, 1_000))
    pos.mark(1_500)  # only ever above cost
    assert pos.max_adverse_excursion == 0
    pos = bought((10, 1_000))
    pos.mark(500)  # only ever below cost
    assert pos.max_favorable_excursion == 0


def test_sale_price_counts_towards_high_and_low() -> None:
    pos = bought((10, 1_000))
    pos.sell(4, 1_300)  # traded at 1_300 while open
    assert pos.high_since_open == 1_300
    pos.sell(3, 800)
    assert pos.low_since_open == 800
    assert pos.qty == 3
    assert pos.max_favorable_excursion == 1_300 * 3 - pos.cost_basis


def test_mark_sets_last_price_and_unrealized() -> None:
    pos = bought((10, 1_000))
    pos.mark(1_234)
    assert pos.last_price == 1_234
    assert pos.market_value == 12_340
    assert pos.unrealized_pnl == 2_340
    pos.mark(990)
    assert pos.unrealized_pnl == -100


def test_mark_while_flat_moves_only_last_price() -> None:
    pos = Position("005930")
    pos.mark(5_000)
    assert pos.last_price == 5_000
    assert (pos.high_since_open, pos.low_since_open) == (0, 0)
    assert pos.market_value == 0
    pos.buy(1, 4_000, T0, Track.SWING, "")
    assert (pos.high_since_open, pos.low_since_open) == (4_000, 4_000)


@settings(max_examples=300, deadline=None)
@given(
    lots=st.lists(
        st.tuples(st.integers(1, 5_000), st.integers(1, 2_000_000)), min_size=1, max_size=6
    ),
    sells=st.lists(
        st.tuples(st.integers(1, 1_000), st.integers(1, 2_000_000)), min_size=1, max_size=8
    ),
)
def test_cost_is_conserved_to_the_won(
    lots: list[tuple[int, int]], sells: list[tuple[int, int]]
) -> None:
    pos = bought(*lots)
    paid = sum(q * p for q, p in lots)
    proceeds = 0
    removed_total = 0
    for permille, price in sells:
        if not pos.is_open:
            break
        qty = max(1, pos.qty * permille // 1_000)
        q_before, cost_before = pos.qty, pos.cost_basis
        realized = pos.sell(qty, price)
        removed = cost_before - pos.cost_basis
        expected_removed = cost_before if qty == q_before else cost_before * qty // q_before
        assert removed == expected_removed
        assert realized == qty * price - removed
        # the remaining shares never carry less than their floor share of the cost
        assert pos.cost_basis >= 0
        if pos.qty:
            assert pos.cost_basis * q_before >= cost_before * pos.qty
        proceeds += qty * price
        removed_total += removed
    assert removed_total + pos.cost_basis == paid
    assert pos.realized_pnl == proceeds - removed_total
    if pos.qty == 0:
        assert pos.cost_basis == 0
