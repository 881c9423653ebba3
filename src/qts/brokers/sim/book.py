"""A limit order book of one symbol: the market's displayed depth plus our resting orders.

The market's depth comes from quote snapshots (replayed or synthetic, ``set_quotes``); trades
of other participants arrive as prints (``on_print``). Our orders interact with it as on KRX:

- a marketable order (MARKET, or LIMIT at or through the opposite best) takes the displayed
  opposite levels at once, best price first, up to its limit (``take``);
- a LIMIT order that is not (or no longer) marketable rests at its price behind the quantity
  the market already shows there (its *queue position*); our own orders at one price keep
  time priority among themselves;
- a print at a price *through* a resting order's level (a sell print below our bid, a buy print
  above our ask) fills it completely at its limit; a print *at* its level first eats the
  quantity queued ahead of it, then fills it with what is left (``on_print``).

Our incoming orders never trade against our own resting orders (no self-matching). Pure: no
clock, no I/O; prices are integer won on the tick grid the caller checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qts.model.enums import OrderSide

Level = tuple[int, int]  # (price, qty)


@dataclass(slots=True)
class Resting:
    """One of our orders resting in the book."""

    order_id: str
    side: OrderSide
    price: int
    qty: int  # still open
    queue_ahead: int  # market quantity ahead of it at its price
    seq: int


@dataclass(frozen=True, slots=True)
class BookFill:
    order_id: str
    qty: int
    price: int


class OrderBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, int] = {}  # market depth: price -> displayed qty
        self.asks: dict[int, int] = {}
        self._mine: dict[str, Resting] = {}
        self._seq = 0
        self.last_price = 0

    # --- market data -------------------------------------------------------------------------

    def set_quotes(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the market's depth with a snapshot. Queue positions can only improve: what
        is ahead of a resting order is at most what the level now shows."""
        self.bids = {p: q for p, q in bids if q > 0 and p > 0}
        self.asks = {p: q for p, q in asks if q > 0 and p > 0}
        for r in self._mine.values():
            shown = (self.bids if r.side is OrderSide.BUY else self.asks).get(r.price, 0)
            r.queue_ahead = min(r.queue_ahead, shown)

    def on_print(self, price: int, volume: int) -> list[BookFill]:
        """A trade of other participants: fill our orders the print traded through or at."""
        self.last_price = price
        fills: list[BookFill] = []
        for side in (OrderSide.BUY, OrderSide.SELL):
            mine = [r for r in self._mine.values() if r.side is side]
            if not mine:
                continue
            through = [
                r for r in mine if (r.price > price if side is OrderSide.BUY else r.price < price)
            ]
            for r in sorted(through, key=self._priority):
                fills.append(BookFill(r.order_id, r.qty, r.price))
                r.qty = 0
            at = sorted((r for r in mine if r.price == price), key=lambda r: r.seq)
            if at and volume > 0:
                fills.extend(self._trade_at_level(at, volume, side, price))
        for f in fills:
            if self._mine[f.order_id].qty == 0:
                del self._mine[f.order_id]
        return fills

    def _trade_at_level(
        self, queue: list[Resting], volume: int, side: OrderSide, price: int
    ) -> list[BookFill]:
        fills: list[BookFill] = []
        left, market_done = volume, 0
        for r in queue:
            ahead = max(r.queue_ahead - market_done, 0)
            eat = min(left, ahead)
            left -= eat
            market_done += eat
            if left == 0:
                break
            qty = min(left, r.qty)
            left -= qty
            r.qty -= qty
            fills.append(BookFill(r.order_id, qty, price))
            if left == 0:
                break
        for r in queue:
            r.queue_ahead = max(r.queue_ahead - market_done, 0)
        levels = self.bids if side is OrderSide.BUY else self.asks
        if price in levels:
            rest = levels[price] - market_done
            if rest > 0:
                levels[price] = rest
            else:
                del levels[price]
        return fills

    # --- our orders --------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def opposite_best(self, side: OrderSide) -> Level | None:
        """(price, qty) of the best level an order of ``side`` would take."""
        if side is OrderSide.BUY:
            p = self.best_ask()
            return (p, self.asks[p]) if p is not None else None
        p = self.best_bid()
        return (p, self.bids[p]) if p is not None else None

    def marketable(self, side: OrderSide, limit: int | None) -> bool:
        best = self.opposite_best(side)
        if best is None:
            return False
        return limit is None or (limit >= best[0] if side is OrderSide.BUY else limit <= best[0])

    def take(self, side: OrderSide, qty: int, limit: int | None) -> list[Level]:
        """Take up to ``qty`` from the opposite side, best price first, never beyond ``limit``
        (None: any price). Returns (price, qty) per level taken; the depth is consumed."""
        levels = self.asks if side is OrderSide.BUY else self.bids
        out: list[Level] = []
        prices = sorted(levels, reverse=side is OrderSide.SELL)
        for p in prices:
            if qty <= 0:
                break
            if limit is not None and (p > limit if side is OrderSide.BUY else p < limit):
                break
            n = min(qty, levels[p])
            out.append((p, n))
            qty -= n
            if n == levels[p]:
                del levels[p]
            else:
                levels[p] -= n
        if out:
            self.last_price = out[-1][0]
        return out

    def rest(self, order_id: str, side: OrderSide, price: int, qty: int) -> Resting:
        """Put our order at the back of its price level."""
        if order_id in self._mine:
            raise ValueError(f"book {self.symbol}: order {order_id} already rests")
        self._seq += 1
        shown = (self.bids if side is OrderSide.BUY else self.asks).get(price, 0)
        r = Resting(order_id, side, price, qty, shown, self._seq)
        self._mine[order_id] = r
        return r

    def remove(self, order_id: str) -> Resting | None:
        return self._mine.pop(order_id, None)

    def resting(self, order_id: str) -> Resting | None:
        return self._mine.get(order_id)

    def mine(self) -> list[Resting]:
        return sorted(self._mine.values(), key=lambda r: r.seq)

    def depth(self, levels: int = 10) -> tuple[list[Level], list[Level]]:
        """(bids best first, asks best first) with our resting quantity included — what a
        quote feed (H0STASP0) shows."""
        bids = dict(self.bids)
        asks = dict(self.asks)
        for r in self._mine.values():
            book = bids if r.side is OrderSide.BUY else asks
            book[r.price] = book.get(r.price, 0) + r.qty
        b = sorted(bids.items(), key=lambda x: -x[0])[:levels]
        a = sorted(asks.items(), key=lambda x: x[0])[:levels]
        return b, a

    @staticmethod
    def _priority(r: Resting) -> tuple[int, int]:
        # price first (higher bid, lower ask), then time
        return (-r.price if r.side is OrderSide.BUY else r.price, r.seq)
