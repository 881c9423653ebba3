"""Typed values of the key catalogue and their hash encodings (spec §7.3).

Prices are decimal strings, quantities and money integer strings (won), stamps Unix ms. Decoding
is strict: a malformed field raises ValueError naming the key and the field, and the manager's
callers treat that value as unusable (the source is read instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from qts.cache.port import Hash
from qts.model.enums import Track
from qts.model.order import Order
from qts.model.position import Position

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def ms(ts: datetime) -> int:
    """Unix milliseconds in integer arithmetic (a float product is 1 ms off for some stamps)."""
    return (ts.astimezone(UTC) - _EPOCH) // _MS


def from_ms(v: int) -> datetime:
    return _EPOCH + v * _MS


def _int(h: Hash, name: str, where: str) -> int:
    try:
        return int(h[name])
    except (KeyError, ValueError):
        got = h.get(name)
        raise ValueError(f"cache {where}: field {name!r} is not an integer: {got!r}") from None


def _dec(h: Hash, name: str, where: str) -> Decimal:
    try:
        return Decimal(h[name])
    except (KeyError, InvalidOperation):
        got = h.get(name)
        raise ValueError(f"cache {where}: field {name!r} is not a decimal: {got!r}") from None


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """``price:{symbol}``: the latest trade (``last``) and quote, and when the feed saw it."""

    symbol: str
    last: int
    bid: int
    ask: int
    volume: int
    ts: datetime  # market time of the print

    def to_hash(self) -> Hash:
        return {
            "last": str(self.last),
            "bid": str(self.bid),
            "ask": str(self.ask),
            "volume": str(self.volume),
            "last_ts": str(ms(self.ts)),
        }

    @classmethod
    def from_hash(cls, symbol: str, h: Hash) -> PriceQuote:
        w = f"price:{symbol}"
        last = _dec(h, "last", w)
        if last <= 0:
            raise ValueError(f"cache {w}: field 'last' must be positive, got {last}")
        return cls(
            symbol,
            int(last),
            int(_dec(h, "bid", w)),
            int(_dec(h, "ask", w)),
            _int(h, "volume", w),
            from_ms(_int(h, "last_ts", w)),
        )


_MICRO = Decimal("0.000001")


# what ``pos:{symbol}`` is made of, copied from a Position (which changes): symbol, qty,
# cost basis, last price, opened at, track
PositionFields = tuple[str, int, int, int, datetime | None, Track]


def position_fields(pos: Position) -> PositionFields:
    return (pos.symbol, pos.qty, pos.cost_basis, pos.last_price, pos.opened_at, pos.track)


@dataclass(frozen=True, slots=True)
class CachedPosition:
    """``pos:{symbol}``; a flat symbol is cached too (qty 0), so a PreCheck for a new entry hits."""

    symbol: str
    qty: int
    cost_basis: int
    avg_price: Decimal
    last_price: int
    unrealized_pnl: int
    exposure_pct: Decimal  # market value / equity
    opened_at: datetime | None
    track: Track

    @classmethod
    def of(cls, pos: Position, equity: int) -> CachedPosition:
        return cls.of_fields(position_fields(pos), equity)

    @classmethod
    def of_fields(cls, f: PositionFields, equity: int) -> CachedPosition:
        """:meth:`of` from a position's fields taken earlier (a block's value made when read)."""
        symbol, qty, cost_basis, last_price, opened_at, track = f
        value = qty * last_price
        pct = Decimal(value) / Decimal(equity) if equity > 0 else Decimal(0)
        return cls(
            symbol,
            qty,
            cost_basis,
            Decimal(cost_basis) / qty if qty else Decimal(0),
            last_price,
            value - cost_basis if qty else 0,
            pct.quantize(_MICRO),
            opened_at if qty else None,
            track,
        )

    @classmethod
    def flat(cls, symbol: str) -> CachedPosition:
        return cls(symbol, 0, 0, Decimal(0), 0, 0, Decimal(0), None, Track.SWING)

    def to_hash(self) -> Hash:
        return {
            "qty": str(self.qty),
            "avg_price": str(self.avg_price),
            "unrealized_pnl": str(self.unrealized_pnl),
            "exposure_pct": str(self.exposure_pct),
            "cost_basis": str(self.cost_basis),
            "last_price": str(self.last_price),
            "opened_at": "" if self.opened_at is None else str(ms(self.opened_at)),
            "track": self.track.value,
        }

    @classmethod
    def from_hash(cls, symbol: str, h: Hash) -> CachedPosition:
        w = f"pos:{symbol}"
        qty = _int(h, "qty", w)
        if qty < 0:
            raise ValueError(f"cache {w}: field 'qty' must not be negative, got {qty}")
        opened = h.get("opened_at", "")
        try:
            track = Track(h.get("track", ""))
        except ValueError:
            got = h.get("track")
            raise ValueError(f"cache {w}: field 'track' is not a track: {got!r}") from None
        return cls(
            symbol,
            qty,
            _int(h, "cost_basis", w),
            _dec(h, "avg_price", w),
            _int(h, "last_price", w),
            _int(h, "unrealized_pnl", w),
            _dec(h, "exposure_pct", w),
            from_ms(int(opened)) if opened else None,
            track,
        )


@dataclass(frozen=True, slots=True)
class RiskState:
    """``risk:account``: what a pre-trade check needs about the whole account, in won."""

    equity: int
    day_start_equity: int
    exposure_used: int
    daily_pnl: int
    trade_count: int
    max_exposure_pct: Decimal
    daily_loss_limit: int  # negative won, e.g. -3,000,000; 0 = none
    remaining_limit: int  # won of daily loss still allowed (0 when the limit is reached)

    def to_hash(self) -> Hash:
        return {
            "equity": str(self.equity),
            "day_start_equity": str(self.day_start_equity),
            "exposure_used": str(self.exposure_used),
            "daily_pnl": str(self.daily_pnl),
            "trade_count": str(self.trade_count),
            "max_exposure_pct": str(self.max_exposure_pct),
            "daily_loss_limit": str(self.daily_loss_limit),
            "remaining_limit": str(self.remaining_limit),
        }

    @classmethod
    def from_hash(cls, h: Hash) -> RiskState:
        w = "risk:account"
        return cls(
            _int(h, "equity", w),
            _int(h, "day_start_equity", w),
            _int(h, "exposure_used", w),
            _int(h, "daily_pnl", w),
            _int(h, "trade_count", w),
            _dec(h, "max_exposure_pct", w),
            _int(h, "daily_loss_limit", w),
            _int(h, "remaining_limit", w),
        )


_TEN_THOUSANDTH = Decimal("0.0001")


def _avg_fill_price(order: Order) -> Decimal:
    if not order.filled_qty:
        return Decimal(0)
    return (Decimal(order.filled_amount) / order.filled_qty).quantize(_TEN_THOUSANDTH)


@dataclass(frozen=True, slots=True)
class OrderStatusView:
    """``ord:{order_id}``: what the partial-fill monitor needs."""

    client_order_id: str
    symbol: str
    status: str
    filled_qty: int
    pending_qty: int
    avg_fill_price: Decimal

    @classmethod
    def of(cls, order: Order) -> OrderStatusView:
        return cls(
            order.client_order_id,
            order.symbol,
            order.status.value,
            order.filled_qty,
            order.remaining,
            _avg_fill_price(order),
        )

    @staticmethod
    def hash_of(order: Order) -> Hash:
        """``of(order).to_hash()`` without the view in between (an order's write-through)."""
        return {
            "symbol": order.symbol,
            "status": order.status.value,
            "filled_qty": str(order.filled_qty),
            "pending_qty": str(order.remaining),
            "avg_fill_price": str(_avg_fill_price(order)),
        }

    def to_hash(self) -> Hash:
        return {
            "symbol": self.symbol,
            "status": self.status,
            "filled_qty": str(self.filled_qty),
            "pending_qty": str(self.pending_qty),
            "avg_fill_price": str(self.avg_fill_price),
        }

    @classmethod
    def from_hash(cls, coid: str, h: Hash) -> OrderStatusView:
        w = f"ord:{coid}"
        if not h.get("status"):
            raise ValueError(f"cache {w}: field 'status' is missing")
        return cls(
            coid,
            h.get("symbol", ""),
            h["status"],
            _int(h, "filled_qty", w),
            _int(h, "pending_qty", w),
            _dec(h, "avg_fill_price", w),
        )
