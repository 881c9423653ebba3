"""The shadow book: main wins for qty/cost, local extremes are kept, snapshots are consistent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from risk_kit import T0, at

from qts.core.clock import SimulatedClock
from qts.model.enums import Track
from qts.risk import ShadowBook
from qts.risk.shadow import RiskLocals, from_us, to_us
from qts.risk.shared import UNKNOWN_TRACK, ShadowReader, SharedShadowBook


@pytest.fixture(params=["private", "shared"])
def book(request: pytest.FixtureRequest) -> Iterator[ShadowBook]:
    """Every test runs on the in-process book and on the shared-memory one."""
    clock = SimulatedClock(T0)
    if request.param == "private":
        yield ShadowBook(clock, capacity=2)  # small: growth is exercised too
        return
    shared = SharedShadowBook(clock, capacity=256)
    try:
        yield shared
    finally:
        shared.close()


def test_new_position_starts_at_the_fill_price(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 10 * 50_000, T0, Track.SCALP, price=50_100)
    s = b.shadow("A")
    assert s is not None
    assert (s.qty, s.cost_basis, s.current_price, s.highest, s.lowest) == (
        10,
        500_000,
        50_100,
        50_100,
        50_100,
    )
    assert s.track is Track.SCALP and s.entry_time == T0


def test_without_a_fill_price_the_average_is_used(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 3, 100_001, T0, Track.SWING)
    s = b.shadow("A")
    assert s is not None and s.current_price == 33_333


def test_ticks_update_price_and_extremes(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    for i, p in enumerate((50_500, 49_000, 49_500, 51_000, 50_000)):
        assert b.on_price("A", p, at(i + 1))
    s = b.shadow("A")
    assert s is not None
    assert (s.current_price, s.highest, s.lowest) == (50_000, 51_000, 49_000)
    assert s.price_time == at(5)
    assert not b.on_price("ZZZ", 100, at(6))  # not held: ignored


def test_an_older_tick_counts_for_extremes_but_not_the_current_price(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    b.on_price("A", 50_500, at(2))
    b.on_price("A", 48_000, at(1))  # a second feed thread delivers an older tick late
    s = b.shadow("A")
    assert s is not None and (s.current_price, s.lowest, s.price_time) == (50_500, 48_000, at(2))


def test_main_wins_for_qty_and_cost_extremes_are_kept(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    b.on_price("A", 52_000, at(1))
    b.on_price("A", 49_000, at(2))
    b.on_position("A", 4, 200_000, T0, Track.SWING, ts=at(3))  # a partial sell booked by main
    s = b.shadow("A")
    assert s is not None
    assert (s.qty, s.cost_basis, s.highest, s.lowest, s.epoch) == (4, 200_000, 52_000, 49_000, 1)
    assert s.last_sync == at(3)


def test_an_add_restarts_the_low_but_keeps_the_high(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    b.on_price("A", 49_000, at(1))
    b.on_price("A", 55_000, at(2))
    b.on_position("A", 20, 500_000 + 10 * 55_000, T0, Track.SWING, price=55_000)
    s = b.shadow("A")
    assert s is not None and (s.lowest, s.highest) == (55_000, 55_000)
    kept = ShadowBook(SimulatedClock(T0), reset_low_on_add=False)
    kept.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    kept.on_price("A", 49_000, at(1))
    kept.on_position("A", 20, 1_050_000, T0, Track.SWING, price=55_000)
    k = kept.shadow("A")
    assert k is not None and k.lowest == 49_000


def test_close_removes_and_reopen_is_a_new_position(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    first = b.shadow("A")
    b.on_position("A", 0, 0, None, Track.SWING)
    assert "A" not in b and b.shadow("A") is None and len(b) == 0
    b.on_position("A", 5, 300_000, at(60), Track.SCALP, price=60_000)
    again = b.shadow("A")
    assert first is not None and again is not None
    assert again.epoch > first.epoch
    assert (again.highest, again.lowest, again.track) == (60_000, 60_000, Track.SCALP)


def test_a_different_open_time_is_a_new_position(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    b.on_price("A", 40_000, at(1))
    b.on_position("A", 10, 450_000, at(5), Track.SWING, price=45_000)  # closed and bought again
    s = b.shadow("A")
    assert s is not None and s.lowest == 45_000 and s.epoch == 2


def test_slots_are_reused(book: ShadowBook) -> None:
    b = book
    for i in range(5):
        b.on_position(f"S{i}", 1, 1_000, T0, Track.SWING)
    b.on_position("S1", 0, 0, None, Track.SWING)
    b.on_position("S9", 1, 1_000, T0, Track.SWING)
    snap = b.snapshot()
    assert snap.capacity == 5 and len(snap) == 5  # slots ever used, not the buffer size
    assert sorted(snap.symbol(r) for r in range(len(snap))) == ["S0", "S2", "S3", "S4", "S9"]


def test_snapshot_does_not_change_afterwards(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    snap = b.snapshot()
    b.on_price("A", 60_000, at(1))
    b.on_position("B", 1, 1_000, T0, Track.SWING)
    assert len(snap) == 1 and int(snap.price[0]) == 50_000 and int(snap.high[0]) == 50_000


def test_bad_input_is_refused(book: ShadowBook) -> None:
    b = book
    with pytest.raises(ValueError, match="cost basis"):
        b.on_position("A", 1, -5, T0, Track.SWING)
    b.on_position("A", 1, 1_000, T0, Track.SWING)
    with pytest.raises(ValueError, match="positive"):
        b.on_price("A", 0, at(1))
    with pytest.raises(ValueError, match="aware"):
        b.on_price("A", 10, at(1).replace(tzinfo=None))


def test_microsecond_times_round_trip() -> None:
    ts = T0 + timedelta(microseconds=123_457)
    assert from_us(to_us(ts)) == ts


def test_locals_reset_when_a_slot_changes_hands(book: ShadowBook) -> None:
    b = book
    b.on_position("A", 10, 500_000, T0, Track.SWING, price=50_000)
    loc = RiskLocals()
    rows = loc.gather(b.snapshot())
    rows.stop_active[0], rows.stop_price[0] = True, 49_000
    loc.scatter(b.snapshot(), rows)
    assert loc.gather(b.snapshot()).stop_price.tolist() == [49_000]
    b.on_position("A", 0, 0, None, Track.SWING)
    b.on_position("B", 1, 1_000, T0, Track.SWING)  # takes A's slot
    again = loc.gather(b.snapshot())
    assert again.stop_price.tolist() == [0] and again.stop_active.tolist() == [False]


def test_concurrent_writers_and_a_reader_see_consistent_rows(book: ShadowBook) -> None:
    """Two tick threads, a fill thread and a snapshotting reader; every snapshot row is whole.
    On the shared book the reader is a ShadowReader, as in the loop process."""
    b = book
    symbols = [f"S{i}" for i in range(50)]
    for s in symbols:
        b.on_position(s, 100, 100 * 10_000, T0, Track.SWING, price=10_000)
    stop = threading.Event()
    errors: list[BaseException] = []

    def ticks(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for k in range(4_000):
                s = symbols[int(rng.integers(len(symbols)))]
                b.on_price(s, int(rng.integers(9_000, 11_000)), at(k / 1000))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def fills() -> None:
        try:
            for k in range(2_000):
                s = symbols[k % len(symbols)]
                qty = 100 - (k // len(symbols)) % 100
                b.on_position(s, qty, qty * 10_000, T0, Track.SWING)
        except BaseException as exc:
            errors.append(exc)

    snaps = 0
    source = ShadowReader(b.handle()) if isinstance(b, SharedShadowBook) else b

    def reader() -> None:
        nonlocal snaps
        try:
            while not stop.is_set():
                snap = source.snapshot()
                assert len(snap) == len(symbols)
                assert np.all(snap.low <= snap.price) and np.all(snap.price <= snap.high)
                assert np.all(snap.cost == snap.qty * 10_000)
                snaps += 1
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=ticks, args=(i,)) for i in range(2)]
    writers.append(threading.Thread(target=fills))
    r = threading.Thread(target=reader)
    r.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    r.join()
    if isinstance(source, ShadowReader):
        source.close()
    assert not errors, errors
    assert snaps > 0


def test_the_reader_sees_what_the_owner_wrote() -> None:
    """The loop process's view of a shared book equals the owner's own snapshot."""
    b = SharedShadowBook(SimulatedClock(T0), capacity=64)
    try:
        b.on_position("A", 10, 500_000, T0, Track.SCALP, price=50_000)
        b.on_position("B", 5, 50_000, T0, "DAYTRADE", price=10_000)  # type: ignore[arg-type]
        b.on_position("C", 1, 1_000, T0, Track.PORTFOLIO, etf=True)
        b.on_price("A", 51_000, at(1))
        b.on_position("B", 0, 0, None, Track.SWING)
        b.on_position("D", 2, 2_000, T0, Track.SWING)  # reuses B's slot
        r = ShadowReader(b.handle())
        try:
            for _ in range(2):  # the second read goes through the reader's caches
                mine, theirs = b.snapshot(), r.snapshot()
                assert [theirs.symbol(i) for i in range(len(theirs))] == ["A", "D", "C"]
                assert [mine.symbol(i) for i in range(len(mine))] == ["A", "D", "C"]
                for f in ("slots", "epoch", "qty", "cost", "price", "high", "low", "etf"):
                    assert np.array_equal(getattr(mine, f), getattr(theirs, f)), f
                assert [theirs.position(i).track for i in range(3)] == [
                    Track.SCALP,
                    Track.SWING,
                    Track.PORTFOLIO,
                ]
            b.on_position("E", 1, 1_000, T0, "DAYTRADE")  # type: ignore[arg-type]
            snap = r.snapshot()
            row = snap.row_of("E")
            assert row is not None and snap.position(row).track == UNKNOWN_TRACK
        finally:
            r.close()
    finally:
        b.close()


def test_a_shared_book_has_a_fixed_capacity() -> None:
    b = SharedShadowBook(SimulatedClock(T0), capacity=2)
    try:
        b.on_position("A", 1, 1_000, T0, Track.SWING)
        b.on_position("B", 1, 1_000, T0, Track.SWING)
        with pytest.raises(RuntimeError, match="full"):
            b.on_position("C", 1, 1_000, T0, Track.SWING)
        assert not b.force_unlock(timeout=0.01)  # nobody holds the lock
    finally:
        b.close()
