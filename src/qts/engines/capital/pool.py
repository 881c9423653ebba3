"""Capital pools (next-generation §1.3) and the one way money moves between them: a transfer.

A pool is a sub-account of the one broker account. Its ``cash`` is its share of the account's
cash; its ``invested`` capital is the market value of the open positions of its track. So
``total = cash + invested`` and ``available = total − invested − reserved = cash − reserved``,
and the three pools add up to the account's equity to the won: Σ cash = account cash, Σ
invested = market value of every position (every position belongs to exactly one track).

``contributed`` is what the pool was given (initial allocation plus transfers in, less transfers
out); ``total − contributed`` is its profit, and ``profit_base`` the part of it already counted
by a promotion, so ``accumulated_profit = total − contributed − profit_base`` (realized plus
unrealized, as the contract's example has it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from qts.engines.capital.rows import JsonRows
from qts.model.enums import Track

POOLS: tuple[Track, ...] = (Track.SCALP, Track.SWING, Track.PORTFOLIO)
CONTRACT_VERSION = "1.0.0"


class PoolState(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    LOCKED = "LOCKED"


class TransferError(ValueError):
    """A transfer that would break a pool (FS083): nothing was changed."""


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """``CapitalPoolContract``: one pool at one time, in whole won."""

    pool_id: Track
    timestamp: datetime
    total_capital: int
    invested_capital: int
    reserved_capital: int
    realized_pnl: int = 0
    unrealized_pnl: int = 0
    accumulated_profit: int = 0
    allocation_pct: Decimal = Decimal(0)
    target_allocation_pct: Decimal = Decimal(0)
    last_promotion_time: datetime | None = None
    promotion_eligible: bool = False
    pool_state: PoolState = PoolState.ACTIVE
    lock_reason: str = ""
    lock_timestamp: datetime | None = None
    version: str = CONTRACT_VERSION

    @property
    def available_capital(self) -> int:
        return self.total_capital - self.invested_capital - self.reserved_capital

    def is_valid(self) -> bool:
        return (
            self.total_capital >= 0
            and 0 <= self.invested_capital <= self.total_capital
            and self.reserved_capital >= 0
            and self.available_capital >= 0
            and Decimal(0) <= self.allocation_pct <= Decimal(1)
        )

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "pool_id": self.pool_id.value,
            "version": self.version,
            "timestamp": self.timestamp.isoformat(),
            "total_capital": self.total_capital,
            "available_capital": self.available_capital,
            "invested_capital": self.invested_capital,
            "reserved_capital": self.reserved_capital,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "accumulated_profit": self.accumulated_profit,
            "allocation_pct": str(self.allocation_pct),
            "target_allocation_pct": str(self.target_allocation_pct),
            "last_promotion_time": iso(self.last_promotion_time),
            "promotion_eligible": self.promotion_eligible,
            "pool_state": self.pool_state.value,
            "lock_reason": self.lock_reason,
            "lock_timestamp": iso(self.lock_timestamp),
        }


@dataclass(frozen=True, slots=True)
class Transfer:
    """Money moved from one pool to another; the sum of the pools is unchanged."""

    ts: datetime
    from_pool: Track
    to_pool: Track
    amount: int
    kind: str  # REBALANCE | PROMOTION | DEMOTION | COVER | INITIAL
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "from": self.from_pool.value,
            "to": self.to_pool.value,
            "amount": self.amount,
            "kind": self.kind,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Transfer:
        return cls(
            datetime.fromisoformat(d["ts"]),
            Track(d["from"]),
            Track(d["to"]),
            int(d["amount"]),
            str(d["kind"]),
            str(d["reason"]),
        )


def _history_row(item: tuple[date, float]) -> list[Any]:
    return [item[0].isoformat(), item[1]]


@dataclass(slots=True)
class PoolAccount:
    """The durable part of one pool; market values come from the positions at each cycle."""

    pool: Track
    cash: int = 0
    contributed: int = 0
    profit_base: int = 0
    state: PoolState = PoolState.ACTIVE
    lock_code: str = ""
    lock_reason: str = ""
    lock_ts: datetime | None = None
    last_promotion: datetime | None = None
    earmarked: int = 0  # reserved for a transfer out that is waiting (rebalance)
    index: float = 1.0  # time-weighted value index (transfers excluded), for drawdowns
    peak: float = 1.0
    history: list[tuple[date, float]] = field(default_factory=list)  # daily index, ~90 days
    flow: int = 0  # net transfers in since the last daily mark
    last_total: int = 0  # total at the last daily mark
    _history_rows: JsonRows[tuple[date, float]] = field(
        default_factory=lambda: JsonRows(_history_row), repr=False, compare=False
    )

    @property
    def locked(self) -> bool:
        return self.state is PoolState.LOCKED

    def lock(self, code: str, reason: str, ts: datetime) -> bool:
        if self.locked:
            return False
        self.state, self.lock_code, self.lock_reason, self.lock_ts = (
            PoolState.LOCKED,
            code,
            reason,
            ts,
        )
        return True

    def unlock(self) -> None:
        self.state, self.lock_code, self.lock_reason, self.lock_ts = PoolState.ACTIVE, "", "", None

    @property
    def drawdown(self) -> float:
        return 0.0 if self.peak <= 0 else max(0.0, 1.0 - self.index / self.peak)

    def to_json(self, history: bool = True) -> dict[str, Any]:
        """The pool as stored; without its ``history`` window when that is stored apart."""
        doc: dict[str, Any] = {
            "pool": self.pool.value,
            "cash": self.cash,
            "contributed": self.contributed,
            "profit_base": self.profit_base,
            "state": self.state.value,
            "lock_code": self.lock_code,
            "lock_reason": self.lock_reason,
            "lock_ts": self.lock_ts.isoformat() if self.lock_ts else None,
            "last_promotion": self.last_promotion.isoformat() if self.last_promotion else None,
            "earmarked": self.earmarked,
            "index": self.index,
            "peak": self.peak,
            "flow": self.flow,
            "last_total": self.last_total,
        }
        if history:
            doc["history"] = self.history_json()
        return doc

    def history_json(self) -> list[Any]:
        return self._history_rows.rows(self.history)

    def history_text(self) -> str:
        """``history_json()`` as its JSON text."""
        return self._history_rows.text(self.history)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PoolAccount:
        def at(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(
            pool=Track(d["pool"]),
            cash=int(d["cash"]),
            contributed=int(d["contributed"]),
            profit_base=int(d.get("profit_base", 0)),
            state=PoolState(d.get("state", "ACTIVE")),
            lock_code=str(d.get("lock_code", "")),
            lock_reason=str(d.get("lock_reason", "")),
            lock_ts=at(d.get("lock_ts")),
            last_promotion=at(d.get("last_promotion")),
            earmarked=int(d.get("earmarked", 0)),
            index=float(d.get("index", 1.0)),
            peak=float(d.get("peak", 1.0)),
            history=[(date.fromisoformat(a), float(b)) for a, b in d.get("history", [])],
            flow=int(d.get("flow", 0)),
            last_total=int(d.get("last_total", 0)),
        )


class CapitalBook:
    """The three pools. :meth:`transfer` is the only way money moves between them."""

    def __init__(self, pools: dict[Track, PoolAccount]) -> None:
        if set(pools) != set(POOLS):
            raise ValueError(f"capital book needs the pools {POOLS}, got {sorted(pools)}")
        self.pools = pools

    @classmethod
    def open(cls, amounts: dict[Track, int]) -> CapitalBook:
        """New pools holding ``amounts`` of cash each (their contributions)."""
        return cls(
            {t: PoolAccount(t, amounts[t], amounts[t], last_total=amounts[t]) for t in POOLS}
        )

    def __getitem__(self, pool: Track) -> PoolAccount:
        return self.pools[pool]

    @property
    def cash(self) -> int:
        return sum(p.cash for p in self.pools.values())

    def transfer(
        self,
        src: Track,
        dst: Track,
        amount: int,
        kind: str,
        reason: str,
        ts: datetime,
        *,
        free: dict[Track, int] | None = None,
        allow_locked: bool = False,
    ) -> Transfer:
        """Move ``amount`` won of cash from ``src`` to ``dst``, all or nothing.

        ``free`` is what each pool may give (its available capital); by default its cash.
        Raises :class:`TransferError` (FS083) and changes nothing when the transfer is not
        possible: a locked pool, a non-positive or non-integer amount, not enough capital.
        """
        if type(amount) is not int or amount <= 0:
            raise TransferError(f"transfer {src}→{dst}: amount {amount!r} is not a positive won")
        if src is dst:
            raise TransferError(f"transfer {src}→{dst}: same pool")
        a, b = self.pools[src], self.pools[dst]
        if not allow_locked and (a.locked or b.locked):
            which = src if a.locked else dst
            raise TransferError(f"transfer {src}→{dst}: pool {which} is LOCKED")
        can = (free or {}).get(src, a.cash)
        if amount > can:
            raise TransferError(
                f"transfer {src}→{dst}: {amount:,} won exceeds {src}'s available {can:,}"
            )
        before = self.cash
        a.cash -= amount
        a.contributed -= amount
        a.flow -= amount
        b.cash += amount
        b.contributed += amount
        b.flow += amount
        assert self.cash == before
        return Transfer(ts, src, dst, amount, kind, reason)

    def to_json(self, history: bool = True) -> dict[str, Any]:
        return {t.value: self.pools[t].to_json(history) for t in POOLS}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CapitalBook:
        return cls({t: PoolAccount.from_json(d[t.value]) for t in POOLS})
