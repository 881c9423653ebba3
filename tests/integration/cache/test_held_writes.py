"""Held-back write-throughs (qts.cache.pending): the in-process cache sends a burst's position
and order writes out together, and no reader can tell. Also what keeps a long run's cache
small: expired hashes leave memory, the generation table stays bounded."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from qts.cache import CachedPosition, CacheManager, Family, HotCache
from qts.cache.manager import GENERATIONS_KEPT
from qts.cache.memory import MemoryCache
from qts.cache.pending import HeldWrites
from qts.cache.port import CacheBackend, Hash
from qts.cache.redis_cache import RedisCache
from qts.core.clock import SimulatedClock
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderType, Track
from qts.model.order import Order
from qts.model.position import Position

SYMBOLS = ("A", "B", "C")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=KST)


class NoSource:
    """The store behind a read-through: nothing booked (the reads that miss load flat)."""

    def load_positions(self) -> dict[str, Position]:
        return {}

    def get_order(self, client_order_id: str) -> Order | None:
        return None


class WrittenAtOnce(MemoryCache):
    """The in-process cache without held writes: every write-through goes out when made."""

    in_process = False


def hot(backend: CacheBackend, clock: SimulatedClock) -> HotCache:
    return HotCache(CacheManager(backend, clock, retry_wait_s=0.0), NoSource())  # type: ignore[arg-type]


def position(symbol: str, qty: int) -> CachedPosition:
    return CachedPosition(
        symbol, qty, qty * 100, Decimal(100), 100, 0, Decimal(0), None, Track.SWING
    )


def order(coid: str) -> Order:
    o = Order(coid, "A", OrderSide.BUY, OrderType.MARKET, 10, T0, None, "test")
    o.submit("V-" + coid, T0)
    return o


def test_held_writes_of_one_instant_and_key_space_only() -> None:
    held: HeldWrites[int, str] = HeldWrites()
    assert held.add(1, "a", 1000, SYMBOLS)
    assert held.add(1, "b", 1000, SYMBOLS)  # the later write of a key replaces the held one
    assert not held.add(2, "c", 1001, SYMBOLS)  # another instant: write the held ones first
    assert not held.add(2, "c", 1000, ("X",))  # another key space
    assert held.take() == (SYMBOLS, 1000, {1: "b"})
    assert held.take() == (SYMBOLS, 1000, {})
    assert held.add(2, "c", 1001, ("X",))


def test_a_burst_of_position_writes_goes_out_as_one_and_reads_back_the_last(
    clock: SimulatedClock,
) -> None:
    cache = hot(MemoryCache(clock), clock)
    cache.write_position(SYMBOLS, 0, lambda: position("A", 10))
    cache.write_position(SYMBOLS, 1, lambda: position("B", 5))
    cache.write_position(SYMBOLS, 0, lambda: position("A", 20))
    assert cache.manager.metrics.families[Family.POSITION].writes == 0
    got = cache.positions(["A", "B"])
    assert (got["A"].qty, got["B"].qty) == (20, 5)
    stats = cache.manager.metrics.families[Family.POSITION]
    assert (stats.writes, stats.hits, stats.misses) == (2, 2, 0)  # one block write of two keys


def test_a_held_write_keeps_its_instant_so_it_goes_stale_on_time(clock: SimulatedClock) -> None:
    cache = hot(MemoryCache(clock), clock)
    cache.write_position(SYMBOLS, 0, lambda: position("A", 10))
    cache.write_order(order("O1"))
    clock.advance(timedelta(seconds=61))  # past both TTLs (1 s, 60 s) before anyone reads
    assert cache.positions(["A"])["A"].qty == 0  # the store's (flat), not the held value
    assert cache.order("O1") is None  # the store has no such order
    for family in (Family.POSITION, Family.ORDER):
        stats = cache.manager.metrics.families[family]
        assert (stats.hits, stats.misses) == (0, 1)  # expired, as a write made then would be


def test_a_write_at_another_instant_sends_the_held_ones_first(clock: SimulatedClock) -> None:
    cache = hot(MemoryCache(clock), clock)
    cache.write_position(SYMBOLS, 0, lambda: position("A", 10))
    clock.advance(timedelta(milliseconds=1))
    cache.write_position(SYMBOLS, 1, lambda: position("B", 5))
    assert cache.manager.metrics.families[Family.POSITION].writes == 1  # A went out at its time
    clock.advance(timedelta(milliseconds=998))  # A is 999 ms old, B 998 ms: both live
    got = cache.positions(["A", "B"])
    assert (got["A"].qty, got["B"].qty) == (10, 5)
    clock.advance(timedelta(milliseconds=1))  # A 1,000 ms: expired (TTL 1 s); B 999 ms: live
    got = cache.positions(["A", "B"])
    assert (got["A"].qty, got["B"].qty) == (0, 5)


def test_orders_held_then_read_back_with_their_status(clock: SimulatedClock) -> None:
    cache = hot(MemoryCache(clock), clock)
    o = order("O1")
    cache.write_order(o)
    o.apply_fill("F1", 4, 70_000, T0)
    cache.write_order(o)
    view = cache.order("O1")
    assert view is not None and (view.status, view.filled_qty, view.pending_qty) == (
        "PARTIALLY_FILLED",
        4,
        6,
    )
    assert cache.manager.metrics.families[Family.ORDER].writes == 1


def test_a_redis_cache_gets_every_write_at_once(
    make_backend: Callable[[str], CacheBackend], clock: SimulatedClock
) -> None:
    backend = make_backend("redis")
    assert isinstance(backend, RedisCache)
    cache = hot(backend, clock)
    cache.write_position(SYMBOLS, 0, lambda: position("A", 10))
    cache.write_order(order("O1"))
    pos, ord_ = backend.get_hashes(["pos:A", "ord:O1"])  # another process's view
    assert pos is not None and pos["qty"] == "10"
    assert ord_ is not None and ord_["status"] == "SUBMITTED"


def block_value(base: int, i: int) -> CachedPosition:
    return position(SYMBOLS[i], base + i)


# a run of writes, reads and clock moves: (kind, a, b)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("pos"), st.integers(0, 2), st.integers(0, 50)),
        st.tuples(st.just("block"), st.integers(0, 50), st.just(0)),
        st.tuples(st.just("ord"), st.integers(0, 2), st.integers(0, 3)),
        st.tuples(
            st.just("tick"), st.sampled_from([0, 1, 400, 999, 1000, 1001, 60_001]), st.just(0)
        ),
        st.tuples(st.just("read_pos"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("read_ord"), st.integers(0, 2), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(ops=OPS)
@example(ops=[("pos", 0, 0), ("tick", 1000, 0), ("read_pos", 0, 0)])  # expired at its TTL
@example(ops=[("ord", 0, 1), ("tick", 60_001, 0), ("read_ord", 0, 0)])
@example(ops=[("pos", 0, 3), ("tick", 1, 0), ("pos", 1, 4), ("tick", 999, 0), ("read_pos", 0, 0)])
def test_readers_cannot_tell_held_writes_from_writes_made_at_once(
    ops: list[tuple[str, int, int]],
) -> None:
    """The same run on the in-process cache with and without held writes: every read gives the
    same value, and the same hit, miss and stale counts."""
    outcomes = []
    for backend_type in (MemoryCache, WrittenAtOnce):
        clock = SimulatedClock(T0)
        cache = hot(backend_type(clock), clock)
        orders = [order(f"O{k}") for k in range(3)]
        seen: list[object] = []
        for kind, a, b in ops:
            if kind == "pos":
                cache.write_position(SYMBOLS, a, functools.partial(position, SYMBOLS[a], b))
            elif kind == "block":
                cache.write_position_block(SYMBOLS, functools.partial(block_value, b))
            elif kind == "ord":
                o = orders[a]
                if b and o.remaining:
                    o.apply_fill(f"F{a}-{o.filled_qty}", min(b, o.remaining), 1_000 * b, T0)
                cache.write_order(o)
            elif kind == "tick":
                clock.advance(timedelta(milliseconds=a))
            elif kind == "read_pos":
                seen.append(cache.positions([SYMBOLS[a]]).get(SYMBOLS[a]))
            else:
                seen.append(cache.order(f"O{a}"))
        fams = cache.manager.metrics.families
        counts = [
            (fams[f].hits, fams[f].misses, fams[f].stale) for f in (Family.POSITION, Family.ORDER)
        ]
        outcomes.append((seen, counts))
    assert outcomes[0] == outcomes[1]


def test_expired_hashes_leave_memory_as_later_writes_come(clock: SimulatedClock) -> None:
    backend = MemoryCache(clock)
    backend.put_hashes([(f"ord:O{k}", {"status": "FILLED"}, 60_000) for k in range(100)])
    backend.put_hashes([("risk:account", {"equity": "1"}, 5_000)])
    clock.advance(timedelta(seconds=61))
    backend.put_hashes([("ord:NEW", {"status": "SUBMITTED"}, 60_000)])
    assert backend.purge() == 1  # only the live hash was still held


def test_a_short_lived_hash_leaves_before_a_long_lived_one_written_earlier(
    clock: SimulatedClock,
) -> None:
    backend = MemoryCache(clock)
    backend.put_hashes([("ord:O1", {"status": "FILLED"}, 60_000)])
    backend.put_hashes([("price:A", {"last": "100"}, 100), ("pos:A", {"qty": "1"}, 750)])
    clock.advance(timedelta(milliseconds=200))
    backend.put_hashes([("price:B", {"last": "200"}, 100)])
    assert backend.purge() == 3  # ord:O1, pos:A and price:B; price:A is gone


def test_a_hash_written_again_lives_to_its_new_expiry(clock: SimulatedClock) -> None:
    backend = MemoryCache(clock)
    backend.put_hashes([("ord:O1", {"status": "SUBMITTED"}, 60_000)])
    clock.advance(timedelta(seconds=30))
    backend.put_hashes([("ord:O1", {"status": "FILLED"}, 60_000)])
    clock.advance(timedelta(seconds=31))  # the first write's expiry passed, the second's not
    backend.put_hashes([("ord:O2", {"status": "NEW"}, 60_000)])
    assert backend.get_hashes(["ord:O1"]) == [{"status": "FILLED"}]


def test_a_slow_load_is_never_overwritten_however_many_keys_are_written_meanwhile(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    # a TTL that Redis's own (wall) clock cannot reach while the test runs
    m = CacheManager(backend, clock, retry_wait_s=0.0, ttl_ms={Family.POSITION: 600_000})

    def slow_load(idents: Sequence[str]) -> dict[str, Hash | None]:
        m.write(Family.POSITION, "A", {"qty": "20"})  # the fill, while the store is read
        # then enough order writes (one round trip) to fill the generation table
        m.write_many(
            Family.ORDER, {f"O{k}": {"status": "FILLED"} for k in range(GENERATIONS_KEPT + 10)}
        )
        return {"A": {"qty": "10"}}

    assert m.read_many(Family.POSITION, ["A"], slow_load)["A"]["qty"] == "10"
    assert m.read_many(Family.POSITION, ["A"], lambda _ids: {})["A"]["qty"] == "20"


def test_the_generation_table_stays_bounded(clock: SimulatedClock) -> None:
    m = CacheManager(MemoryCache(clock), clock, retry_wait_s=0.0)
    for k in range(GENERATIONS_KEPT * 3):
        m.write(Family.ORDER, f"O{k}", {"status": "FILLED"})
    assert len(m._gen) <= GENERATIONS_KEPT


def test_a_block_write_replaces_a_key_written_on_its_own_before(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    """The in-process cache's first block of a family, or a block over a new universe, once
    left older single-key values in front of it (an older value served until it expired)."""
    m = CacheManager(backend, clock, retry_wait_s=0.0)
    m.write(Family.POSITION, "A", {"qty": "1"})
    clock.advance(timedelta(milliseconds=500))
    m.write_block(Family.POSITION, ("A", "B"), None, lambda i: {"qty": "2"})
    assert m.read_many(Family.POSITION, ["A"], lambda _ids: {})["A"]["qty"] == "2"
    m.write_block(Family.POSITION, ("A", "C"), None, lambda i: {"qty": "3"})  # a new universe
    got = m.read_many(Family.POSITION, ["A", "B", "C"], lambda _ids: {})
    assert {k: v["qty"] for k, v in got.items()} == {"A": "3", "B": "2", "C": "3"}
