"""What ``qts run`` writes to the data layer besides its books, when they are in PostgreSQL.

- ``tick_data``: every trade print the run receives. On the live path these are the broker's
  prints (KIS ``H0STCNT0``) as they arrive; the paper path receives minute bars, and each bar is
  recorded as the one print that closes it (its close price and volume, at the bar's last
  microsecond, so it falls in the bar's own minute) — the convention the KIS fake uses too.
  Either way ``ohlcv_1m`` gives back, minute by minute, the bars of what was recorded.
- ``execution_logs``: every order event with its latency: ``submit`` (the broker call's round
  trip, success = accepted, error_code = the venue's code), ``cancel`` (likewise), ``fill`` and
  the venue's ``canceled`` / ``expired`` / ``rejected`` notices (latency since the order was
  sent, on the run's clock).
- ``feedback_data``: :meth:`MarketRecorder.record_feedback` is the port for the feedback loop
  (rows of :class:`~qts.data.market_ports.FeedbackRow`), written as they come.

Writes are buffered and flushed once per bar frame (one COPY of the prints, one insert of the
log lines) and at the end of the run. A failed write is logged and counted, never raised into
trading: the books (orders, fills, ledger) are the trading store's, not these analytics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from qts.app.spine import ORDER_UPDATE
from qts.brokers.base import (
    Ack,
    Balance,
    Broker,
    BrokerEvent,
    OrderRequest,
    OrderUpdate,
    VenueOrder,
)
from qts.core.clock import Clock, SimulatedClock
from qts.core.errors import QtsError
from qts.data.market_ports import ExecutionLog, FeedbackRow, MarketDataStore, Tick
from qts.data.ports import TradingStore
from qts.events import Event, EventType
from qts.model.enums import OrderStatus
from qts.model.fill import Fill
from qts.model.frame import BarFrame

if TYPE_CHECKING:
    from qts.app.wiring import Engine
    from qts.data.postgres import PostgresDatabase

log = logging.getLogger(__name__)
_LAST_MICROSECOND = timedelta(microseconds=1)


class MarketRecorder:
    """Buffers prints and order events of one run and writes them to a market-data store."""

    def __init__(
        self,
        market: MarketDataStore,
        clock: Clock,
        source: str,
        symbol_of: Callable[[str], str] = lambda _coid: "",
    ) -> None:
        self.market = market
        self.clock = clock
        self.source = source
        self.symbol_of = symbol_of  # an order's symbol, for the venue's notices
        self._lock = threading.Lock()
        self._ticks: list[Tick] = []
        self._logs: list[ExecutionLog] = []
        self._sent: dict[str, datetime] = {}  # client order id -> when it was sent
        self.ticks_written = 0
        self.logs_written = 0
        self.failures = 0

    # --- prints ----------------------------------------------------------------------------

    def record_print(self, symbol: str, ts: datetime, price: int, volume: int) -> None:
        with self._lock:
            self._ticks.append(Tick(ts, symbol, price, volume, source=self.source))

    def record_frame(self, frame: BarFrame) -> None:
        """The paper path: each active bar as the print that closes it."""
        ts = frame.end - _LAST_MICROSECOND
        ticks = [
            Tick(ts, symbol, int(frame.close[i]), int(frame.volume[i]), source=self.source)
            for i, symbol in enumerate(frame.universe.symbols)
            if frame.active[i] and frame.close[i] > 0
        ]
        with self._lock:
            self._ticks += ticks

    def frames(
        self, frames: Iterable[BarFrame], after: datetime | None = None, record: bool = True
    ) -> Iterator[BarFrame]:
        """Pass the frames through, recording each (``record``) and flushing what the last one
        brought; frames ending at or before ``after`` (a resumed run's checkpoint) were
        recorded by the run that took them the first time."""
        for frame in frames:
            if record and (after is None or frame.end > after):
                self.record_frame(frame)
            self.flush()
            yield frame

    # --- order events ----------------------------------------------------------------------

    def _log(self, row: ExecutionLog) -> None:
        with self._lock:
            self._logs.append(row)

    def on_submit(self, request: OrderRequest, ack: Ack, latency_ms: float) -> None:
        now = self.clock.now()
        self._sent[request.client_order_id] = now
        self._log(
            ExecutionLog(
                now,
                request.client_order_id,
                request.symbol,
                "submit",
                ack.accepted,
                latency_ms,
                None if ack.accepted else (ack.code or "refused"),
            )
        )

    def on_cancel(self, coid: str, symbol: str, ack: Ack, latency_ms: float) -> None:
        self._log(
            ExecutionLog(
                self.clock.now(),
                coid,
                symbol,
                "cancel",
                ack.accepted,
                latency_ms,
                None if ack.accepted else (ack.code or "refused"),
            )
        )

    def _since_sent(self, coid: str, ts: datetime) -> float | None:
        sent = self._sent.get(coid)
        return None if sent is None else max((ts - sent).total_seconds() * 1000.0, 0.0)

    def on_venue_event(self, event: BrokerEvent, symbol: str) -> None:
        if isinstance(event, Fill):
            latency = self._since_sent(event.client_order_id, event.ts)
            self._log(ExecutionLog(event.ts, event.client_order_id, symbol, "fill", True, latency))
            return
        update: OrderUpdate = event
        if update.status not in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
            return
        rejected = update.status is OrderStatus.REJECTED
        self._log(
            ExecutionLog(
                update.ts,
                update.client_order_id,
                symbol,
                update.status.value.lower(),
                not rejected,
                self._since_sent(update.client_order_id, update.ts),
                (update.reason or "rejected")[:200] if rejected else None,
            )
        )

    def handle_event(self, event: Event) -> None:
        """A dispatcher handler for the venue's fills and order notices."""
        payload = event.payload
        if isinstance(payload, Fill):
            self.on_venue_event(payload, payload.symbol)
        elif isinstance(payload, OrderUpdate):
            self.on_venue_event(payload, self.symbol_of(payload.client_order_id))

    # --- feedback --------------------------------------------------------------------------

    def record_feedback(self, rows: Iterable[FeedbackRow]) -> None:
        """The feedback loop's rows (``feedback_data``), written at once."""
        rows = list(rows)
        if rows:
            self._write("feedback_data", lambda: self.market.record_feedback(rows))

    # --- writing ---------------------------------------------------------------------------

    def _write(self, what: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except (QtsError, ValueError, TypeError) as exc:
            self.failures += 1
            log.warning("data layer: %s not written: %s", what, exc)
            return False
        return True

    def flush(self) -> None:
        with self._lock:
            ticks, self._ticks = self._ticks, []
            logs, self._logs = self._logs, []
        if ticks and self._write(f"{len(ticks)} ticks", lambda: self.market.ingest_ticks(ticks)):
            self.ticks_written += len(ticks)
        if logs and self._write(
            f"{len(logs)} execution log lines", lambda: self.market.record_execution_logs(logs)
        ):
            self.logs_written += len(logs)

    def close(self) -> None:
        self.flush()


class TimedBroker:
    """A broker that tells the recorder how each submit and cancel went and how long it took."""

    def __init__(self, inner: Broker, recorder: MarketRecorder, symbols: dict[str, str]) -> None:
        self._inner = inner
        self._recorder = recorder
        self._symbols = symbols  # client order id -> symbol, for cancels
        self.name = inner.name

    def submit(self, request: OrderRequest) -> Ack:
        start = time.perf_counter()
        ack = self._inner.submit(request)
        self._symbols[request.client_order_id] = request.symbol
        self._recorder.on_submit(request, ack, (time.perf_counter() - start) * 1000.0)
        return ack

    def cancel(self, client_order_id: str) -> Ack:
        start = time.perf_counter()
        ack = self._inner.cancel(client_order_id)
        symbol = self._symbols.get(client_order_id, "")
        self._recorder.on_cancel(
            client_order_id, symbol, ack, (time.perf_counter() - start) * 1000.0
        )
        return ack

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack:
        return self._inner.replace(client_order_id, qty, limit_price)

    def drain_events(self) -> list[BrokerEvent]:
        return self._inner.drain_events()

    def open_orders(self) -> list[VenueOrder]:
        return self._inner.open_orders()

    def order(self, client_order_id: str) -> VenueOrder | None:
        return self._inner.order(client_order_id)

    def fills(self) -> list[Fill]:
        return self._inner.fills()

    def balance(self) -> Balance:
        return self._inner.balance()

    def __getattr__(self, name: str) -> object:
        """Whatever else the adapter offers (e.g. the KIS adapter's quotes)."""
        return getattr(self._inner, name)


def postgres_database(store: TradingStore) -> PostgresDatabase | None:
    """The PostgreSQL database a run's books are written to, if any (a hybrid store's
    database side while its mode writes it)."""
    from qts.data.hybrid import DB, HybridStore
    from qts.data.postgres import PostgresStore

    if isinstance(store, HybridStore):
        if DB not in store.mode.targets:
            return None
        store = store.target(DB)
    return store.db if isinstance(store, PostgresStore) else None


def attach_recorder(engine: Engine, source: str) -> MarketRecorder | None:
    """Record the run's prints and order events when its books are in PostgreSQL; None when
    they are not (SQLite, memory, Sheets alone have no market-data tables)."""
    db = postgres_database(engine.store)
    if db is None:
        return None
    from qts.data.postgres import PostgresMarketStore

    oms = engine.oms

    def symbol_of(coid: str) -> str:
        order = oms.orders.get(coid)
        return order.symbol if order is not None else ""

    market = PostgresMarketStore(db)
    recorder = MarketRecorder(market, engine.clock, source, symbol_of)
    # A simulated clock is not the wall clock the extension's jobs go by (they would expire a
    # paper day of last year at once): the run applies maintenance itself, as of its own time
    # (qts.app.datalayer), in both storage modes.
    db.set_background_jobs(not isinstance(engine.clock, SimulatedClock))
    oms.broker = TimedBroker(oms.broker, recorder, {})
    dispatcher = engine.spine.dispatcher
    dispatcher.subscribe(EventType.FILL_RECEIVED, recorder.handle_event)
    dispatcher.subscribe(ORDER_UPDATE, recorder.handle_event)
    return recorder
