"""One contract for every cache backend: the in-process cache and real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from qts.cache.keys import TTL_MS, Family, key
from qts.cache.port import CacheBackend
from qts.cache.redis_cache import RedisCache
from qts.core.clock import SimulatedClock


def wait_gone(backend: CacheBackend, clock: SimulatedClock, name: str, ttl_ms: int) -> None:
    """Let ``ttl_ms`` pass: on the run's clock for the memory cache, on the wall for Redis
    (polled with a deadline: Redis expires keys on its own clock)."""
    if backend.name == "memory":
        clock.advance(timedelta(milliseconds=ttl_ms + 1))
        return
    deadline = time.monotonic() + ttl_ms / 1000 + 2.0
    while backend.get_hashes([name]) != [None]:
        assert time.monotonic() < deadline, f"{name} still there after its TTL"
        time.sleep(0.005)


def test_hash_round_trip_and_absent_keys(backend: CacheBackend) -> None:
    backend.put_hashes([("pos:005930", {"qty": "10", "avg_price": "70100.5"}, 1000)])
    got = backend.get_hashes(["pos:005930", "pos:000660"])
    assert got == [{"qty": "10", "avg_price": "70100.5"}, None]
    assert backend.get_hashes([]) == []


def test_multi_key_read_keeps_the_order_of_the_keys(backend: CacheBackend) -> None:
    items = [(f"price:{i:06d}", {"last": str(1000 + i)}, 1000) for i in range(20)]
    backend.put_hashes(items)
    names = [n for n, _, _ in reversed(items)]
    got = backend.get_hashes(names)
    assert [h["last"] if h else None for h in got] == [str(1000 + i) for i in reversed(range(20))]


def test_a_write_replaces_the_whole_hash(backend: CacheBackend) -> None:
    backend.put_hashes([("ord:a1", {"status": "SUBMITTED", "reason": "x"}, 60_000)])
    backend.put_hashes([("ord:a1", {"status": "FILLED"}, 60_000)])
    assert backend.get_hashes(["ord:a1"]) == [{"status": "FILLED"}]


@pytest.mark.parametrize("family", list(Family))
def test_every_family_gets_its_ttl_in_milliseconds(backend: CacheBackend, family: Family) -> None:
    ttl = TTL_MS[family]
    name = key(family, "X1")
    if family is Family.BOOK:
        backend.put_zset(name, {"100:5": 100.0}, ttl)
    else:
        backend.put_hashes([(name, {"v": "1"}, ttl)])
    left = backend.ttl_ms(name)
    assert left is not None
    assert 0 < left <= ttl  # sub-second TTLs survive as milliseconds (PEXPIRE, not EXPIRE)
    if ttl >= 1000:
        assert left > ttl - 500


def test_sub_second_keys_expire(backend: CacheBackend, clock: SimulatedClock) -> None:
    backend.put_hashes([("price:005930", {"last": "70000"}, TTL_MS[Family.PRICE])])
    assert backend.get_hashes(["price:005930"]) == [{"last": "70000"}]
    wait_gone(backend, clock, "price:005930", TTL_MS[Family.PRICE])
    assert backend.get_hashes(["price:005930"]) == [None]
    assert backend.ttl_ms("price:005930") is None


def test_a_write_without_a_positive_ttl_is_refused(backend: CacheBackend) -> None:
    with pytest.raises(ValueError, match="positive TTL"):
        backend.put_hashes([("pos:1", {"qty": "1"}, 0)])
    with pytest.raises(ValueError, match="positive TTL"):
        backend.put_zset("book:1:bid", {"1:1": 1.0}, -5)


def test_sorted_set_ranks_by_score(backend: CacheBackend) -> None:
    members = {"70000:5": 70000.0, "70100:1": 70100.0, "69900:9": 69900.0, "70200:3": 70200.0}
    backend.put_zset("book:005930:bid", members, 50)
    best = backend.get_zset("book:005930:bid", 2, highest=True)
    assert best == [("70200:3", 70200.0), ("70100:1", 70100.0)]
    low = backend.get_zset("book:005930:bid", 10, highest=False)
    assert [m for m, _ in low] == ["69900:9", "70000:5", "70100:1", "70200:3"]
    assert backend.get_zset("book:none:bid", 5, highest=True) == []


def test_delete_counts_existing_keys(backend: CacheBackend) -> None:
    backend.put_hashes([("pos:a", {"qty": "1"}, 1000), ("pos:b", {"qty": "2"}, 1000)])
    assert backend.delete(["pos:a", "pos:zz"]) == 1
    assert backend.get_hashes(["pos:a", "pos:b"]) == [None, {"qty": "2"}]
    assert backend.delete([]) == 0


def test_purge_removes_only_this_cache_s_keys(
    backend: CacheBackend, make_backend: Callable[[str], CacheBackend]
) -> None:
    other = make_backend(backend.name)
    backend.put_hashes([("pos:a", {"qty": "1"}, 5000), ("risk:account", {"e": "1"}, 5000)])
    other.put_hashes([("pos:a", {"qty": "9"}, 5000)])
    if backend.name == "redis":
        assert backend.purge() == 2
        assert other.get_hashes(["pos:a"]) == [{"qty": "9"}]  # another prefix is untouched
    else:
        assert backend.purge() == 2
    assert backend.get_hashes(["pos:a", "risk:account"]) == [None, None]


def test_redis_refuses_an_empty_prefix() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisCache("redis://127.0.0.1:6379/0", "")


def test_redis_prefix_with_glob_characters_purges_exactly_its_keys(
    make_backend: Callable[..., CacheBackend],
) -> None:
    import uuid

    tag = uuid.uuid4().hex[:8]
    star = make_backend("redis", f"qts-test:{tag}*:")
    plain = make_backend("redis", f"qts-test:{tag}x:")
    star.put_hashes([("pos:a", {"qty": "1"}, 5000)])
    plain.put_hashes([("pos:a", {"qty": "2"}, 5000)])
    assert star.purge() == 1
    assert plain.get_hashes(["pos:a"]) == [{"qty": "2"}]
