"""Quote and print data for the book when the market data are minute bars (paper runs, the
broker fakes): each bar is replayed as four prints along its path (open, the extreme nearer the
open, the other extreme, close — a quarter of the volume each) and then a quote ladder around
its close (:func:`qts.brokers.sim.quotes.synthetic_depth`, ``volume // 5`` shares a step).

Prints are fed only for symbols where one of our orders waits in the book (the ladder that
follows replaces the depth anyway). Quotes are set again for a replayed bar (a restarted run
needs its books), prints are not. So an order sent after a bar trades at once against that
ladder (a buy at the close plus one tick, a sell at the close), and a resting limit fills when
a later bar's path reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from qts.brokers.base import BrokerEvent
from qts.brokers.sim.quotes import synthetic_depth
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

DEPTH_DIVISOR = 5


class BookVenue(Protocol):
    def last_frame_start(self) -> datetime | None: ...

    def has_book_orders(self, symbol: str) -> bool: ...

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]: ...

    def on_print(self, symbol: str, price: int, volume: int) -> list[BrokerEvent]: ...

    def on_quotes(
        self, symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
    ) -> list[BrokerEvent]: ...


def bar_path(o: int, h: int, lo: int, c: int) -> tuple[int, int, int, int]:
    return (o, lo, h, c) if c >= o else (o, h, lo, c)


class BarBook:
    """A frame listener that keeps a venue's books in step with the bars."""

    def __init__(self, venue: BookVenue, instruments: Mapping[str, Instrument]) -> None:
        self.venue = venue
        self.etf = {s for s, i in instruments.items() if i.is_etf}

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]:
        fresh = self.fresh(frame)
        events = self.venue.on_frame(frame)
        return events + self.feed(frame, prints=fresh)

    def fresh(self, frame: BarFrame) -> bool:
        """False for a bar the venue has seen already (a replay printed once)."""
        last = self.venue.last_frame_start()
        return last is None or frame.start > last

    def feed(self, frame: BarFrame, prints: bool = True) -> list[BrokerEvent]:
        """The bar's prints (unless ``prints`` is False) and then its closing ladder."""
        events: list[BrokerEvent] = []
        active = frame.active.tolist()
        o, h, lo, c, v = (
            frame.open.tolist(),
            frame.high.tolist(),
            frame.low.tolist(),
            frame.close.tolist(),
            frame.volume.tolist(),
        )
        for i, symbol in enumerate(frame.universe.symbols):
            if not active[i] or c[i] <= 0:
                continue
            if prints and self.venue.has_book_orders(symbol):  # the ladder replaces the depth
                quarter = max(1, v[i] // 4)
                for price in bar_path(o[i], h[i], lo[i], c[i]):
                    events += self.venue.on_print(symbol, price, quarter)
            bids, asks = synthetic_depth(c[i], v[i] // DEPTH_DIVISOR, symbol in self.etf)
            events += self.venue.on_quotes(symbol, bids, asks)
        return events
