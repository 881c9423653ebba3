"""§12.5 oracle 40: locks (FS080–FS085) and that a locked pool takes part in no transfer."""

from __future__ import annotations

import pytest
from capital_kit import T0, day, flow, inputs

from qts.engines.capital.pool import CapitalBook, PoolState, TransferError
from qts.model.enums import Track

S, W, P = Track.SCALP, Track.SWING, Track.PORTFOLIO


def codes(out) -> list[str]:  # type: ignore[no-untyped-def]
    return [c for c, _ in out.codes]


def test_pool_drawdown_over_20_percent_locks_it_fs082() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[W].cash -= 7_500_000  # swing 35,000,000 → 27,500,000: 21.4 % down
    out = f.step(inputs(day(1), 92_500_000))
    assert "FS082" in codes(out)
    assert out.view.pools[W].pool_state is PoolState.LOCKED
    assert out.view.locked(W)
    assert out.view.pools[W].lock_reason.startswith("drawdown")


def test_drawdown_at_the_limit_does_not_lock() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[W].cash -= 7_000_000  # exactly 20 %
    out = f.step(inputs(day(1), 93_000_000))
    assert "FS082" not in codes(out) and not out.view.locked(W)


def test_total_capital_zero_or_less_is_fs080() -> None:
    f = flow(100_000_000)
    out = f.step(inputs(day(1), 0))
    assert "FS080" in codes(out)
    out = f.step(inputs(day(1, 16), 0))
    assert "FS080" not in codes(out)  # reported once while it lasts


def test_negative_pool_is_fs081_and_locked() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[S].cash = -1_000_000
    f.book[P].cash = 66_000_000
    f.book[W].cash = 35_000_000
    f.book[P].lock("FS082", "test", T0)  # nobody may cover the overdraft
    f.book[W].lock("FS082", "test", T0)
    out = f.step(inputs(T0.replace(hour=16), 100_000_000))
    assert "FS081" in codes(out)
    assert out.view.pools[S].pool_state is PoolState.LOCKED


def test_safety_lockdown_locks_every_pool_fs085_and_release_unlocks() -> None:
    f = flow(100_000_000)
    out = f.step(inputs(day(1), 100_000_000, safety="LOCKDOWN"))
    assert "FS085" in codes(out)
    assert all(p.pool_state is PoolState.LOCKED for p in out.view.pools.values())
    out = f.step(inputs(day(2), 100_000_000, safety="NORMAL"))
    assert not any(p.pool_state is PoolState.LOCKED for p in out.view.pools.values())


def test_a_locked_pool_takes_part_in_no_transfer_fs083() -> None:
    book = CapitalBook.open({S: 10_000_000, W: 10_000_000, P: 10_000_000})
    book[W].lock("FS082", "drawdown", T0)
    for src, dst in ((W, S), (S, W)):
        with pytest.raises(TransferError, match="LOCKED"):
            book.transfer(src, dst, 1_000_000, "REBALANCE", "test", T0)
    assert [book[t].cash for t in (S, W, P)] == [10_000_000] * 3  # rolled back: nothing moved


def test_invalid_transfers_change_nothing() -> None:
    book = CapitalBook.open({S: 10_000_000, W: 10_000_000, P: 10_000_000})
    for amount in (0, -5, 10_000_001):
        with pytest.raises(TransferError):
            book.transfer(S, W, amount, "REBALANCE", "test", T0)
    with pytest.raises(TransferError):
        book.transfer(S, W, 1.5, "REBALANCE", "test", T0)  # type: ignore[arg-type]
    assert book.cash == 30_000_000 and book[S].cash == 10_000_000


def test_fs082_lock_is_released_when_the_pool_is_flat_after_the_wait() -> None:
    f = flow(100_000_000)
    assert f.book is not None
    f.book[W].cash -= 10_000_000
    assert f.step(inputs(day(1), 90_000_000)).view.locked(W)
    assert f.step(inputs(day(3), 90_000_000)).view.locked(W)
    out = f.step(inputs(day(7), 90_000_000))
    assert not out.view.locked(W)


def test_safety_fail_forces_defensive_and_starts_rebalancing() -> None:
    f = flow(100_000_000)
    out = f.step(inputs(day(0, 16), 100_000_000, safety="FAIL"))
    assert [(t.to_state.value, t.kind) for t in out.transitions] == [("DEFENSIVE", "forced")]
    assert out.view.state.value == "DEFENSIVE" and out.view.rebalance_pending
    out = f.step(inputs(day(1), 100_000_000, safety="NORMAL"))
    assert [(t.from_pool, t.to_pool) for t in out.transfers] == [(S, P)]
