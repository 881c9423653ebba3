"""The key catalogue (next-generation spec §7.3; TTLs from decisions.md, which wins).

Every key belongs to a family; every family has an explicit TTL, applied on every write
(``PEXPIRE`` in milliseconds, so the 100 ms and 50 ms families work on Redis too). Keys carry the
cache's prefix so that several runs (or test runs) can share one Redis without touching each
other's keys.
"""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    PRICE = "price"  # price:{symbol}            hash   100 ms
    POSITION = "pos"  # pos:{symbol}             hash   1 s
    BOOK = "book"  # book:{symbol}:{bid|ask}     zset   50 ms
    RISK = "risk"  # risk:account                hash   5 s
    ORDER = "ord"  # ord:{order_id}              hash   60 s
    STRATEGY = "strat"  # strat:{strategy_id}    hash   60 s


TTL_MS: dict[Family, int] = {
    Family.PRICE: 100,
    Family.POSITION: 1_000,
    Family.BOOK: 50,
    Family.RISK: 5_000,
    Family.ORDER: 60_000,
    Family.STRATEGY: 60_000,
}

# the field of each family's hash that stamps when the value was written (Unix ms)
STAMP_FIELD: dict[Family, str] = {
    Family.PRICE: "timestamp",
    Family.POSITION: "updated_at",
    Family.BOOK: "",
    Family.RISK: "updated_at",
    Family.ORDER: "last_update",
    Family.STRATEGY: "updated_at",
}

RISK_ACCOUNT = "account"


def key(family: Family, ident: str) -> str:
    """The catalogue name of one key, without the cache prefix: ``pos:005930``."""
    if ident.split() != [ident]:  # empty, or has whitespace somewhere
        raise ValueError(f"cache key {family.value}:{ident!r}: the id must be non-empty, no spaces")
    return f"{family.value}:{ident}"


def family_of(name: str) -> Family:
    """The family of a catalogue key name (``price:005930`` → PRICE)."""
    head = name.split(":", 1)[0]
    return Family(head)
