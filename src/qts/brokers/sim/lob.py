"""Book mode of the simulated exchange: orders of symbols with live quotes trade against a limit
order book (:mod:`qts.brokers.sim.book`) instead of waiting for the next bar.

A symbol enters book mode with its first quote snapshot (``on_quotes``). From then on:

- a new order is matched at once (at ``submit time + latency``) against the displayed depth:
  MARKET takes what is there (its unfilled rest waits for the next quotes), a marketable LIMIT
  takes up to its price and rests with the rest; a LIMIT that is not marketable rests at the
  back of its price level;
- trade prints (``on_print``) fill resting orders they trade through or at (queue position);
- a quote snapshot that crosses a resting order fills it against the new depth;
- cancel, replace, expiry, cash and holdings, fees and the journal work as for bar orders (the
  exchange's own bookkeeping does them; this class only decides prices and quantities).

Symbols without quotes keep the documented bar-fill model.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from qts.brokers.base import BrokerEvent
from qts.brokers.sim.book import Level, OrderBook
from qts.model.enums import OrderSide, OrderStatus, OrderType

if TYPE_CHECKING:
    from qts.brokers.sim.exchange import SimExchange
    from qts.brokers.sim.records import SimOrder

_OPEN = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


class BookMatcher:
    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.books: dict[str, OrderBook] = {}
        self.orders: dict[str, SimOrder] = {}  # open orders living in a book

    def resting(self, symbol: str) -> bool:
        """Any of our orders waits in the symbol's book (prints can only matter then)."""
        return any(o.symbol == symbol for o in self.orders.values())

    def active(self, symbol: str) -> bool:
        return symbol in self.books

    def owns(self, order: SimOrder) -> bool:
        return order.client_order_id in self.orders

    def book(self, symbol: str) -> OrderBook | None:
        return self.books.get(symbol)

    # --- market data -------------------------------------------------------------------------

    def on_quotes(
        self, symbol: str, bids: Iterable[Level], asks: Iterable[Level], ts: datetime
    ) -> list[BrokerEvent]:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(symbol)
        book.set_quotes(bids, asks)
        events: list[BrokerEvent] = []
        for order in self._of(symbol):
            if order.order_type is OrderType.MARKET or book.marketable(
                order.side, order.limit_price
            ):
                book.remove(order.client_order_id)
                self._match(order, book, ts, events)
        return events

    def on_print(self, symbol: str, price: int, volume: int, ts: datetime) -> list[BrokerEvent]:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(symbol)
        events: list[BrokerEvent] = []
        for f in book.on_print(price, volume):
            order = self.orders.get(f.order_id)
            if order is None or order.status not in _OPEN:
                continue
            self._fill(order, f.qty, f.price, ts, events)
        self.exchange.note_price(symbol, price)
        return events

    # --- orders ------------------------------------------------------------------------------

    def submit(self, order: SimOrder, now: datetime) -> list[BrokerEvent]:
        book = self.books[order.symbol]
        self.orders[order.client_order_id] = order
        events: list[BrokerEvent] = []
        self._match(order, book, now + self.exchange.config.latency, events)
        return events

    def replaced(self, order: SimOrder, keeps_priority: bool, now: datetime) -> list[BrokerEvent]:
        book = self.books[order.symbol]
        resting = book.resting(order.client_order_id)
        if keeps_priority and resting is not None:
            resting.qty = order.remaining
            return []
        book.remove(order.client_order_id)
        events: list[BrokerEvent] = []
        self._match(order, book, now + self.exchange.config.latency, events)
        return events

    def closed(self, order: SimOrder) -> None:
        """The exchange ended the order (cancel, expiry, fill): take it off the book."""
        if self.orders.pop(order.client_order_id, None) is not None:
            book = self.books.get(order.symbol)
            if book is not None:
                book.remove(order.client_order_id)

    # --- matching ----------------------------------------------------------------------------

    def _match(
        self, order: SimOrder, book: OrderBook, ts: datetime, events: list[BrokerEvent]
    ) -> None:
        limit = order.limit_price if order.order_type is OrderType.LIMIT else None
        if book.marketable(order.side, limit):
            for price, qty in book.take(order.side, order.remaining, limit):
                done = self._fill(order, qty, price, ts, events)
                if done < qty:
                    break  # out of cash: the rest stays on the book's level
        if order.status in _OPEN and order.order_type is OrderType.LIMIT:
            assert order.limit_price is not None
            if book.resting(order.client_order_id) is None:
                book.rest(order.client_order_id, order.side, order.limit_price, order.remaining)

    def _fill(
        self, order: SimOrder, qty: int, price: int, ts: datetime, events: list[BrokerEvent]
    ) -> int:
        ex = self.exchange
        inst = ex.instruments[order.symbol]
        if ex.account is not None and order.side is OrderSide.BUY:
            qty = ex.affordable(order, qty, price)
            if qty <= 0:
                return 0
        ex.book_fill(order, qty, price, ts, events)
        if order.status not in _OPEN:
            self.closed(order)
        del inst
        return qty

    def _of(self, symbol: str) -> list[SimOrder]:
        return sorted((o for o in self.orders.values() if o.symbol == symbol), key=lambda o: o.seq)
