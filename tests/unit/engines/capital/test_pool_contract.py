"""§12.5 oracle 35: the pool contract; and a fill moves money between available and invested."""

from __future__ import annotations

from capital_kit import T0, day, entry, flow, inputs

from qts.engines.capital.pool import PoolSnapshot
from qts.model.enums import OrderSide, Track


def test_available_is_total_less_invested_less_reserved() -> None:
    p = PoolSnapshot(Track.SCALP, T0, 10_000_000, 3_000_000, 500_000)
    assert p.available_capital == 6_500_000
    assert p.is_valid()


def test_invested_above_total_is_invalid() -> None:
    assert not PoolSnapshot(Track.SCALP, T0, 10_000_000, 15_000_000, 0).is_valid()
    assert not PoolSnapshot(Track.SCALP, T0, -1, 0, 0).is_valid()


def test_contract_json_carries_every_field() -> None:
    doc = PoolSnapshot(Track.SWING, T0, 10_000_000, 3_000_000, 500_000).to_json()
    for key in (
        "pool_id",
        "version",
        "timestamp",
        "total_capital",
        "available_capital",
        "invested_capital",
        "reserved_capital",
        "realized_pnl",
        "unrealized_pnl",
        "accumulated_profit",
        "allocation_pct",
        "target_allocation_pct",
        "last_promotion_time",
        "promotion_eligible",
        "pool_state",
    ):
        assert key in doc
    assert doc["available_capital"] == 6_500_000


def test_a_fill_moves_money_from_available_to_invested_and_back() -> None:
    f = flow(100_000_000)
    swing = f.book[Track.SWING] if f.book else None
    assert swing is not None and swing.cash == 35_000_000
    buy = entry(1, OrderSide.BUY, 10, 100_000, day(1), after=10, fee=150)
    out = f.step(
        inputs(day(1), 100_000_000 - 1_000_150, {**_z(), Track.SWING: 1_000_000}, entries=[buy])
    )
    p = out.view.pools[Track.SWING]
    assert p.invested_capital == 1_000_000
    assert p.available_capital == 35_000_000 - 1_000_150
    assert p.total_capital == 35_000_000 - 150
    assert out.view.equity == 100_000_000 - 150
    sell = entry(2, OrderSide.SELL, 10, 110_000, day(2), after=0, pnl=99_700, fee=150)
    out = f.step(inputs(day(2), 100_000_000 - 1_000_150 + 1_099_850, entries=[sell]))
    p = out.view.pools[Track.SWING]
    assert p.invested_capital == 0
    assert p.total_capital == p.available_capital == 35_000_000 + 99_700
    # the other pools did not move
    assert out.view.pools[Track.SCALP].total_capital == 40_000_000


def _z() -> dict[Track, int]:
    return {Track.SCALP: 0, Track.SWING: 0, Track.PORTFOLIO: 0}
