"""SimBroker: the Broker port over the simulated KRX exchange.

The broker of the embedded default run and of every backtest. It adds to the matching engine
what a broker adds to an exchange: an account that refuses what it cannot pay or deliver, fees on
every fill, time from an injected :class:`~qts.core.clock.Clock` (never the wall clock), and,
when opened on a file, durability across crashes (:mod:`qts.brokers.sim.journal`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, VenueOrder
from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.config import SimConfig
from qts.brokers.sim.exchange import SimExchange
from qts.core.clock import Clock
from qts.core.errors import StorageError
from qts.core.time import require_aware
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel
from qts.model.fill import Fill
from qts.model.frame import BarFrame
from qts.model.instrument import Instrument

if TYPE_CHECKING:
    from qts.brokers.sim.journal import SimJournal  # SQLite: only a broker opened on a file


class SimBroker:
    """A simulated KRX broker account. Thread-safe: one lock around every call.

    Without a journal (the constructor) it lives in memory, for backtests. ``SimBroker.open``
    binds it to a SQLite file and restores whatever the file holds.
    """

    name = "sim"

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        initial_cash: int,
        holdings: Mapping[str, int] | None = None,
        config: SimConfig | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        reference_prices: Mapping[str, int] | None = None,
        journal: SimJournal | None = None,
    ) -> None:
        self._clock = clock
        self.account = SimAccount(initial_cash, holdings)
        self.exchange = SimExchange(
            instruments,
            config,
            account=self.account,
            fees=fees,
            calendar=calendar,
            reference_prices=reference_prices,
            record_changes=journal is not None,
        )
        self._journal = journal
        self._lock = threading.RLock()
        self._failed: StorageError | None = None
        self._closed = False
        if journal is not None:
            state = journal.load()
            if state is None:
                journal.initialize(self.exchange, self.account)
            else:
                self.exchange.restore(state)
            self.exchange.take_changes()

    @classmethod
    def open(
        cls,
        path: str | Path,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        *,
        initial_cash: int,
        holdings: Mapping[str, int] | None = None,
        config: SimConfig | None = None,
        fees: FeeModel | None = None,
        calendar: KrxCalendar | None = None,
        reference_prices: Mapping[str, int] | None = None,
    ) -> SimBroker:
        """A journaled broker on ``path``: a new account, or the one the file holds.

        For an existing file the stored cash, holdings and reference prices win over
        ``initial_cash``, ``holdings`` and ``reference_prices``.
        """
        from qts.brokers.sim.journal import SimJournal

        journal = SimJournal(path)
        try:
            return cls(
                instruments,
                clock,
                initial_cash=initial_cash,
                holdings=holdings,
                config=config,
                fees=fees,
                calendar=calendar,
                reference_prices=reference_prices,
                journal=journal,
            )
        except BaseException:
            journal.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.close()
            self._closed = True

    def __enter__(self) -> SimBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add_instrument(self, instrument: Instrument, reference_price: int) -> None:
        """List a new instrument (a venue that serves any valid code learns them as asked)."""
        with self._lock:
            self.exchange.add_instrument(instrument, reference_price)

    # ------------------------------------------------------------------ the Broker port

    def submit(self, request: OrderRequest) -> Ack:
        with self._lock:
            now = self._sync()
            ack = self.exchange.submit(request, now)
            self._commit()
            return ack

    def cancel(self, client_order_id: str) -> Ack:
        with self._lock:
            now = self._sync()
            ack = self.exchange.cancel(client_order_id, now)
            self._commit()
            return ack

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack:
        with self._lock:
            now = self._sync()
            ack = self.exchange.replace(client_order_id, qty, limit_price, now)
            self._commit()
            return ack

    def drain_events(self) -> list[BrokerEvent]:
        """Fills and order updates since the last call (in memory only: after a restart the
        durable truth is ``fills()``, ``open_orders()`` and ``order()``)."""
        with self._lock:
            self._sync()
            return self.exchange.drain_events()

    def open_orders(self) -> list[VenueOrder]:
        with self._lock:
            self._sync()
            return self.exchange.open_orders()

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self._lock:
            self._sync()
            return self.exchange.order(client_order_id)

    def fills(self) -> list[Fill]:
        with self._lock:
            self._sync()
            return self.exchange.fills()

    def balance(self) -> Balance:
        with self._lock:
            self._sync()
            return Balance(self.account.cash, dict(self.account.holdings))

    # ------------------------------------------------------------------ market data

    def on_frame(self, frame: BarFrame) -> list[BrokerEvent]:
        """Feed one frame to the venue. Returns the frame's events, which are also queued for
        ``drain_events`` (use one or the other)."""
        with self._lock:
            self._check()
            events = self.exchange.on_frame(frame)
            self._commit()
            return events

    def on_quotes(
        self, symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
    ) -> list[BrokerEvent]:
        """A quote snapshot at the clock's time: the symbol trades on its order book."""
        with self._lock:
            now = self._sync()
            events = self.exchange.on_quotes(symbol, bids, asks, now)
            self._commit()
            return events

    def on_print(self, symbol: str, price: int, volume: int) -> list[BrokerEvent]:
        """A trade print at the clock's time (fills resting book orders it reaches)."""
        with self._lock:
            now = self._sync()
            events = self.exchange.on_print(symbol, price, volume, now)
            self._commit()
            return events

    def has_book_orders(self, symbol: str) -> bool:
        with self._lock:
            return self.exchange.lob.resting(symbol)

    def last_frame_start(self) -> datetime | None:
        with self._lock:
            return self.exchange.last_frame_start

    def depth(
        self, symbol: str, levels: int = 10
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """The symbol's book (bids, asks; best first, our orders included), None without one."""
        with self._lock:
            book = self.exchange.lob.book(symbol)
            return book.depth(levels) if book is not None else None

    # ------------------------------------------------------------------ internals

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("sim broker: used after close()")
        if self._failed is not None:
            raise StorageError(
                f"sim broker: the journal failed earlier ({self._failed}); reopen the broker"
            )

    def _sync(self) -> datetime:
        """Read the clock and let time act (expiry at the close) before serving a call."""
        self._check()
        now = require_aware(self._clock.now(), "clock time")
        if self.exchange.advance(now):
            self._commit()
        return now

    def _commit(self) -> None:
        journal = self._journal
        if journal is None:
            return
        changes = self.exchange.take_changes()
        if not changes:
            return
        try:
            journal.write(changes, self.exchange, self.account)
        except StorageError as exc:
            # memory is now ahead of the file: refuse to go on rather than diverge silently
            self._failed = exc
            raise
