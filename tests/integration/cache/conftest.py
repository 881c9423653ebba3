"""Fixtures for the cache tests: every contract test runs on the in-process cache and on the
machine's Redis (127.0.0.1:6379) under a key prefix unique to the test, deleted afterwards by
prefix (never FLUSHDB). Tests that stop Redis use their own server (``own_redis``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from qts.cache.devserver import RedisServer
from qts.cache.memory import MemoryCache
from qts.cache.port import CacheBackend
from qts.cache.redis_cache import RedisCache
from qts.core.clock import SimulatedClock
from qts.core.time import KST

SHARED_REDIS = os.environ.get("QTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ("memory", "redis")


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 1, 5, 9, 0, tzinfo=KST))


def unique_prefix() -> str:
    return f"qts-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def make_backend(clock: SimulatedClock) -> Iterator[Callable[[str], CacheBackend]]:
    made: list[CacheBackend] = []

    def make(kind: str, prefix: str | None = None) -> CacheBackend:
        backend: CacheBackend
        if kind == "memory":
            backend = MemoryCache(clock, prefix or "")
        else:
            backend = RedisCache(SHARED_REDIS, prefix or unique_prefix())
        made.append(backend)
        return backend

    yield make
    for b in made:
        if isinstance(b, RedisCache):
            b.purge()
        b.close()


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, make_backend: Callable[[str], CacheBackend]
) -> CacheBackend:
    return make_backend(request.param)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()
