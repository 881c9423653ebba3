"""Cache-aside, write-through, staleness and the circuit breaker, on both backends; the outage
tests stop a private redis-server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, timedelta

import pytest

from qts.cache import (
    BreakerState,
    CacheManager,
    CacheStaleDataError,
    Family,
    HotCache,
    PriceDataUnavailableError,
    PriceQuote,
)
from qts.cache.devserver import RedisServer
from qts.cache.manager import check_fresh
from qts.cache.port import CacheBackend, Hash
from qts.cache.redis_cache import RedisCache
from qts.core.clock import SimulatedClock


class Source:
    """A store stand-in that counts reads; the test's truth."""

    def __init__(self) -> None:
        self.values: dict[str, Hash] = {}
        self.reads = 0

    def load(self, idents: Sequence[str]) -> dict[str, Hash | None]:
        self.reads += 1
        return {i: dict(self.values[i]) if i in self.values else None for i in idents}


def manager(backend: CacheBackend, clock: SimulatedClock, **kw: object) -> CacheManager:
    return CacheManager(backend, clock, retry_wait_s=0.0, **kw)  # type: ignore[arg-type]


def test_two_position_reads_give_a_hit_rate_of_one_half(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    src = Source()
    src.values["005930"] = {"qty": "10"}
    m = manager(backend, clock)
    first = m.read_many(Family.POSITION, ["005930"], src.load)
    second = m.read_many(Family.POSITION, ["005930"], src.load)
    assert first["005930"]["qty"] == second["005930"]["qty"] == "10"
    assert src.reads == 1
    assert m.metrics.hit_rate(Family.POSITION) == 0.5


def test_a_price_500_ms_old_is_stale_and_never_served(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    m = manager(backend, clock)
    m.write(Family.PRICE, "005930", {"last": "70000"})
    (cached,) = backend.get_hashes(["price:005930"])
    assert cached is not None
    clock.advance(timedelta(milliseconds=500))
    with pytest.raises(CacheStaleDataError, match="500 ms old"):
        check_fresh("price:005930", Family.PRICE, cached, int(clock.now().timestamp() * 1000), 100)
    src = Source()
    src.values["005930"] = {"last": "70100"}
    got = m.read_many(Family.PRICE, ["005930"], src.load)
    # on Redis the key may still exist (Redis expires on the wall clock): the stamp decides
    assert got["005930"]["last"] == "70100"
    assert src.reads == 1
    stats = m.metrics.families[Family.PRICE]
    assert stats.hits == 0 and stats.stale + stats.misses == 1


def test_a_value_without_its_stamp_is_never_served(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    backend.put_hashes([("pos:1", {"qty": "5"}, 1000)])  # written by someone else, unstamped
    src = Source()
    src.values["1"] = {"qty": "7"}
    got = manager(backend, clock).read_many(Family.POSITION, ["1"], src.load)
    assert got["1"]["qty"] == "7"


def test_write_through_is_read_back_and_invalidation_reloads(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    src = Source()
    m = manager(backend, clock)
    src.values["A"] = {"qty": "3"}
    assert m.write(Family.POSITION, "A", src.values["A"])
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "3"
    assert src.reads == 0
    src.values["A"] = {"qty": "0"}
    m.invalidate(Family.POSITION, ["A"])
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "0"
    assert src.reads == 1


def test_a_slow_load_never_overwrites_a_newer_write_through(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    m = manager(backend, clock)

    def slow_load(idents: Sequence[str]) -> dict[str, Hash | None]:
        # while the store is being read, a fill is booked and written through
        m.write(Family.POSITION, "A", {"qty": "20"})
        return {"A": {"qty": "10"}}

    assert m.read_many(Family.POSITION, ["A"], slow_load)["A"]["qty"] == "10"
    assert m.read_many(Family.POSITION, ["A"], slow_load)["A"]["qty"] == "20"


def test_price_reads_come_from_the_feed_board_and_fail_typed_without_one(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    from qts.data.memory import MemoryStore

    hot = HotCache(manager(backend, clock), MemoryStore())
    with pytest.raises(PriceDataUnavailableError, match="price:005930"):
        hot.price("005930")
    q = PriceQuote("005930", 70000, 69900, 70100, 1234, clock.now())
    hot.push_prices([q])
    assert hot.price("005930") == q
    backend.delete(["price:005930"])  # expired or evicted: the board answers
    assert hot.price("005930") == q


def test_typed_block_reads_equal_the_decoded_hashes(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    """The in-process cache answers block reads with the typed value (no hash made or decoded):
    it must be exactly what the hash decodes to, as Redis gives it (whole ms, UTC)."""
    import numpy as np

    from qts.cache import CachedPosition
    from qts.data.memory import MemoryStore
    from qts.model.enums import Track

    m = manager(backend, clock)
    hot = HotCache(m, MemoryStore())
    now = clock.now() + timedelta(microseconds=1234)  # KST, not on a whole millisecond
    symbols = ("A", "B", "C")
    close = np.array([70000, 0, 1200], dtype=np.int64)
    hot.push_frame(symbols, close, np.array([5, 6, 7]), np.array([True, True, True]), now)
    held = CachedPosition.of_fields(("A", 10, 690000, 70000, now, Track.SWING), 10**9)
    positions = [held, CachedPosition.flat("B"), CachedPosition.flat("C")]
    hot.write_position_block(symbols, lambda i: positions[i])

    prices = hot.prices(list(symbols))
    decoded = {
        s: PriceQuote.from_hash(s, h)
        for s, h in m.read_many(Family.PRICE, list(symbols), lambda _i: {}).items()
    }
    assert prices == decoded and set(prices) == {"A", "C"}  # B's close is no print
    assert [(q.ts, q.ts.tzinfo) for q in prices.values()] == [
        (q.ts, q.ts.tzinfo) for q in decoded.values()
    ]
    got = hot.positions(list(symbols))
    raw = m.read_many(Family.POSITION, list(symbols), lambda _i: {})
    assert got == {s: CachedPosition.from_hash(s, h) for s, h in raw.items()}
    opened = got["A"].opened_at
    assert opened is not None and opened.tzinfo is UTC and opened.microsecond == 1000
    assert m.metrics.snapshot()["pos"]["hits"] == 6


def test_a_corrupt_cached_value_is_replaced_from_the_source(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    from qts.data.memory import MemoryStore

    m = manager(backend, clock)
    hot = HotCache(m, MemoryStore())
    q = PriceQuote("005930", 70000, 70000, 70000, 1, clock.now())
    hot.push_prices([q])
    stamp = str(int(clock.now().timestamp() * 1000))
    backend.put_hashes([("price:005930", {"last": "garbage", "timestamp": stamp}, 100)])
    assert hot.price("005930") == q


# --- the circuit breaker over a Redis that goes away ---------------------------------------


def outage_manager(server: RedisServer, clock: SimulatedClock, alerts: list[str]) -> CacheManager:
    return CacheManager(
        RedisCache(server.url, "qts-outage:"), clock, alert=alerts.append, retry_wait_s=0.0
    )


def test_redis_down_opens_the_breaker_after_five_failures_and_reads_go_to_the_store(
    own_redis: RedisServer, clock: SimulatedClock
) -> None:
    alerts: list[str] = []
    m = outage_manager(own_redis, clock, alerts)
    src = Source()
    src.values["A"] = {"qty": "1"}
    m.write(Family.POSITION, "A", src.values["A"])
    own_redis.stop()
    for n in range(1, 5):
        assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "1"
        assert m.breaker.state is BreakerState.CLOSED and m.breaker.failures == n
    assert not alerts
    m.read_many(Family.POSITION, ["A"], src.load)
    assert m.breaker.state is BreakerState.OPEN
    assert len(alerts) == 1 and "circuit breaker open" in alerts[0]
    errors_before = m.metrics.families[Family.POSITION].errors
    for _ in range(50):  # open: the cache is not asked at all
        assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "1"
    assert m.metrics.families[Family.POSITION].errors == errors_before
    assert m.metrics.families[Family.POSITION].bypassed >= 50


def test_writes_while_open_are_not_lost_and_no_older_value_is_served_after_recovery(
    own_redis: RedisServer, clock: SimulatedClock
) -> None:
    alerts: list[str] = []
    m = outage_manager(own_redis, clock, alerts)
    src = Source()
    src.values["A"] = {"qty": "1"}
    assert m.write(Family.POSITION, "A", src.values["A"])
    m.breaker.failure("test")  # network trouble without losing Redis' contents
    for _ in range(4):
        m.breaker.failure("test")
    assert m.breaker.state is BreakerState.OPEN
    src.values["A"] = {"qty": "2"}  # the store books a fill while the cache is cut off
    assert not m.write(Family.POSITION, "A", src.values["A"])
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "2"
    clock.advance(timedelta(seconds=60))
    # half-open probe succeeds: closed, and the stale qty=1 still inside Redis is not served
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "2"
    assert m.breaker.state is BreakerState.CLOSED
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "2"


def test_half_open_probe_failure_reopens_and_recovery_closes(
    own_redis: RedisServer, clock: SimulatedClock
) -> None:
    alerts: list[str] = []
    m = outage_manager(own_redis, clock, alerts)
    src = Source()
    src.values["A"] = {"qty": "1"}
    own_redis.stop()
    for _ in range(5):
        m.read_many(Family.POSITION, ["A"], src.load)
    assert m.breaker.state is BreakerState.OPEN
    clock.advance(timedelta(seconds=59))
    m.read_many(Family.POSITION, ["A"], src.load)
    assert m.breaker.state is BreakerState.OPEN  # not yet
    clock.advance(timedelta(seconds=1))
    m.read_many(Family.POSITION, ["A"], src.load)  # the probe, against a dead server
    assert m.breaker.state is BreakerState.OPEN and m.breaker.opened == 2
    own_redis.start()
    clock.advance(timedelta(seconds=60))
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "1"
    assert m.breaker.state is BreakerState.CLOSED
    reads = src.reads
    assert m.read_many(Family.POSITION, ["A"], src.load)["A"]["qty"] == "1"
    assert src.reads == reads  # a hit again
    assert m.metrics.breaker_closed == 1


def test_only_one_caller_probes_while_half_open(clock: SimulatedClock) -> None:
    from qts.cache.breaker import CircuitBreaker

    changes: list[tuple[str, str]] = []
    b = CircuitBreaker(clock, on_change=lambda a, z, _r: changes.append((a.value, z.value)))
    for _ in range(5):
        b.failure("x")
    assert not b.allow()
    clock.advance(timedelta(seconds=60))
    assert b.allow() is True
    assert b.allow() is False  # a second caller meanwhile uses the store
    b.success()
    assert b.allow() is True
    assert changes == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]


def test_make_backend_fixture_is_used(make_backend: Callable[[str], CacheBackend]) -> None:
    assert make_backend("memory").name == "memory"


def test_a_block_write_of_one_index_equals_a_mask_of_one(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    """A fill's position goes to the block as its index: the same key, value and count as a
    one-element mask (a numpy integer too); other keys keep their values."""
    import numpy as np

    m = manager(backend, clock)
    symbols = ("A", "B", "C")
    m.write_block(Family.POSITION, symbols, None, lambda i: {"qty": str(i)})
    m.write_block(Family.POSITION, symbols, 1, lambda _i: {"qty": "10"})
    m.write_block(Family.POSITION, symbols, np.int64(2), lambda _i: {"qty": "20"})
    got = backend.get_hashes(["pos:A", "pos:B", "pos:C"])
    assert [h and h["qty"] for h in got] == ["0", "10", "20"]
    assert m.metrics.families[Family.POSITION].writes == 5
    m.write(Family.POSITION, "B", {"qty": "7"})  # a key written alone leaves the column
    m.write_block(Family.POSITION, symbols, 1, lambda _i: {"qty": "11"})
    (b,) = backend.get_hashes(["pos:B"])
    assert b is not None and b["qty"] == "11"


def test_a_single_write_checks_its_key_and_counts_like_write_many(
    backend: CacheBackend, clock: SimulatedClock
) -> None:
    m = manager(backend, clock)
    with pytest.raises(ValueError, match="no spaces"):
        m.write(Family.ORDER, "a b", {"status": "FILLED"})
    fields = {"status": "FILLED"}
    assert m.write(Family.ORDER, "o-1", fields)
    assert fields == {"status": "FILLED"}  # the caller's fields are not stamped
    (h,) = backend.get_hashes(["ord:o-1"])
    assert h is not None and h["last_update"] == str(int(clock.now().timestamp() * 1000))
    assert m.metrics.families[Family.ORDER].writes == 1
