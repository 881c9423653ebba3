"""KisBroker: the Broker port over KIS's REST API and real-time WebSocket.

Calls are synchronous (the OMS calls ``submit`` and waits for the ack); one background thread
owns the WebSocket and turns fill notices into events as they arrive. Truth comes from two
sources that are merged into one account of fills, keyed so that neither counts twice:

* the fill notice (``H0STCNI0/9``) — per execution, immediate, lost while the socket is down;
* inquiry (``inquire-daily-ccld``) — per order totals, always complete.

A fill's id is ``{order date}-{ODNO}-{cumulative qty of that ODNO after it}``, which both
sources can compute: a notice adds its quantity to the cumulative count; an inquiry total above
the count books the difference as one fill. So a restarted adapter, or one that missed notices
while reconnecting, books exactly what is missing. Statuses are applied after fills: a cancel
or an expiry is reported only once the fills before it are in.

Orders are sent one at a time. An order POST that ends without a definite answer is looked up
by inquiry (same symbol, side, quantity, price, sent after it, not yet claimed); only when
several lookups find nothing is it sent again — and a second unknown outcome raises
:class:`OrderOutcomeUnknown`, leaving the intent recorded for the next attempt.

The matching of both sources with the order map — linking rows and notices to client orders,
booking fills, closing orders, parking early notices, the end of day orders — is
:mod:`reconcile` (``Reconciler``); the order, revise and cancel POSTs and their answers
:mod:`sending` (``OrderSender``); the ``VenueOrder`` views :mod:`snapshot`. The broker holds
the Broker port (checking and building what is sent), the WebSocket's callbacks and the queue
of events.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import date, datetime

from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, OrderUpdate, VenueOrder
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.errors import KisError, ProtocolError
from qts.brokers.kis.mapping import (
    AccountSummary,
    Holding,
    OrderBook,
    Quote,
    TradeTick,
    account_summary,
    balance_params,
    book_snapshot,
    fill_notice,
    holding,
    order_book,
    quote,
    quote_params,
    rvsecncl_body,
    trade_tick,
)
from qts.brokers.kis.orderstore import OrderRecord, OrderStore
from qts.brokers.kis.reconcile import Reconciler
from qts.brokers.kis.redact import logger, register_secrets
from qts.brokers.kis.rest import KisRestClient
from qts.brokers.kis.sending import OrderSender, ack
from qts.brokers.kis.snapshot import from_record
from qts.brokers.kis.websocket import KisWebSocket
from qts.core.clock import Clock, WallClock
from qts.core.time import KST
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel, KrxFees
from qts.model.enums import OrderType
from qts.model.fill import Fill
from qts.model.instrument import Instrument

log = logger("qts.brokers.kis.broker")

UNKNOWN_ORDER = "UNKNOWN_ORDER"
INVALID_QTY = "INVALID_QTY"
INVALID_PRICE = "INVALID_PRICE"
_MAX_MARKET = 50_000

MarketEvent = TradeTick | OrderBook


class KisBroker:
    """A KIS account behind the Broker protocol. Thread-safe.

    ``clock`` gives the trading date for inquiries and the expiry of day orders (a
    ``WallClock`` by default; tests share the fake exchange's clock). ``fees`` estimates the
    commission and tax of each fill (KIS's notices carry none); ``instruments`` tell the fee
    model which symbols are ETFs or KOSDAQ.
    """

    name = "kis"

    def __init__(
        self,
        config: KisConfig,
        *,
        clock: Clock | None = None,
        fees: FeeModel | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        calendar: KrxCalendar | None = None,
        rest: KisRestClient | None = None,
        start: bool = True,
    ) -> None:
        self.config = config
        register_secrets(*config.secrets())
        self.clock: Clock = clock or WallClock()
        self.fees: FeeModel = fees if fees is not None else KrxFees()
        self.instruments = dict(instruments or {})
        self.calendar = calendar or KrxCalendar()
        self.rest = rest or KisRestClient(config)
        self.store = OrderStore(config.state_path)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._order_lock = threading.Lock()  # one order/cancel/revise POST at a time
        self._events: list[BrokerEvent] = []
        self._held: list[OrderUpdate] = []  # terminal updates waiting for a resync's fills
        self._resync_needed = any(
            not r.status.is_terminal and not r.foreign for r in self.store.orders.values()
        )
        self._recon = Reconciler(
            config,
            self.store,
            self.rest,
            clock=self.clock,
            fees=self.fees,
            instruments=self.instruments,
            calendar=self.calendar,
            lock=self._lock,
            emit=self._emit,
            report=self._report,
        )
        self._sender = OrderSender(config, self.store, self.rest, self._recon, self._lock)
        self._last_poll = float("-inf")
        self._market: deque[MarketEvent] = deque(maxlen=_MAX_MARKET)
        self._notices = config.ws_enabled and config.hts_id is not None
        self.ws: KisWebSocket | None = None
        if config.ws_enabled:
            self.ws = KisWebSocket(
                config.websocket_url,
                self.rest.auth.approval_key,
                self._on_ws_data,
                invalidate_approval=self.rest.auth.invalidate_approval_key,
                on_ready=self._on_ws_ready,
                custtype=config.custtype,
                reconnect_min_s=config.ws_reconnect_min_s,
                reconnect_max_s=config.ws_reconnect_max_s,
                idle_timeout_s=config.ws_idle_timeout_s,
                open_timeout_s=config.timeout_s,
            )
        if not self._notices:
            log.warning("no fill notices (WebSocket off or no HTS id): fills come from polling")
        self._started = False
        self._closed = False
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Get a token (fails fast on bad credentials) and open the WebSocket."""
        if self._started:
            return
        self.rest.auth.token()
        if self.ws is not None:
            if self.config.hts_id is not None:
                self.ws.subscribe(
                    ep.notice_tr(self.config.paper), self.config.hts_id.get_secret_value()
                )
            self.ws.start()
        self._started = True
        log.info(
            "KIS %s adapter started for account %s",
            self.config.mode.value,
            self.config.account_masked,
        )

    def connected(self) -> bool:
        """The real-time session (fill notices) is up; without one, REST alone counts."""
        return self.ws is None or self.ws.connected

    def close(self) -> None:
        """Stop the WebSocket thread and release the HTTP client and the order map."""
        if self._closed:
            return
        self._closed = True
        if self.ws is not None:
            self.ws.close()
        self.rest.close()
        self.store.close()

    def __enter__(self) -> KisBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the Broker port

    def submit(self, request: OrderRequest) -> Ack:
        with self._order_lock:
            with self._lock:
                rec = self.store.orders.get(request.client_order_id)
                if rec is not None and not rec.pending:
                    return ack(rec, duplicate=True)
            if rec is not None:
                # an earlier attempt ended without an answer: find it before sending again
                if self._sender.lookup(rec):
                    return ack(rec, duplicate=True)
            else:
                rec = OrderRecord(
                    request.client_order_id,
                    request.symbol,
                    request.side,
                    request.order_type,
                    request.qty,
                    request.limit_price,
                    self._now(),
                )
                refusal = _check_request(request)
                if refusal is not None:
                    self._sender.reject(rec, *refusal)
                    return ack(rec)
                with self._lock:
                    self.store.save(rec)  # the intent is on disk before the POST
            return self._sender.send_new(rec)

    def cancel(self, client_order_id: str) -> Ack:
        with self._order_lock:
            rec = self._open_record(client_order_id)
            if rec is None:
                return Ack(
                    client_order_id, False, None, "no open order with this id", UNKNOWN_ORDER
                )
            body = rvsecncl_body(
                self.config,
                orgno=rec.orgno,
                odno=rec.odno,
                ord_dvsn=_dvsn(rec),
                cancel=True,
                qty=0,
                price=0,
                all_qty=True,
            )
            res = self._sender.post_change(rec, body, "cancel")
            if isinstance(res, Ack):
                return res
            self._sender.link_change(rec, res, "cancel", qty=rec.remaining, all_qty=True)
            if not self._notices:
                self._recon.refresh(force=True)
            return Ack(client_order_id, True, rec.odno)

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack:
        """Lower the quantity (a partial cancel) and/or move a LIMIT price (a revision, which
        gets a new KIS order number). KIS cannot raise an order's quantity."""
        with self._order_lock:
            rec = self._open_record(client_order_id)
            if rec is None:
                return Ack(
                    client_order_id, False, None, "no open order with this id", UNKNOWN_ORDER
                )
            if qty > rec.qty:
                return Ack(
                    client_order_id,
                    False,
                    rec.odno,
                    f"KIS cannot raise an order's quantity ({rec.qty} -> {qty}); send a new order",
                    INVALID_QTY,
                )
            if qty <= rec.filled_qty:
                return Ack(
                    client_order_id,
                    False,
                    rec.odno,
                    f"new qty {qty} must exceed the {rec.filled_qty} already filled",
                    INVALID_QTY,
                )
            if rec.order_type is OrderType.MARKET and limit_price is not None:
                return Ack(
                    client_order_id, False, rec.odno, "a MARKET order takes no price", INVALID_PRICE
                )
            if limit_price is not None and limit_price <= 0:
                return Ack(
                    client_order_id, False, rec.odno, "price must be positive", INVALID_PRICE
                )
            cut = rec.qty - qty
            if cut > 0:
                body = rvsecncl_body(
                    self.config,
                    orgno=rec.orgno,
                    odno=rec.odno,
                    ord_dvsn=_dvsn(rec),
                    cancel=True,
                    qty=cut,
                    price=0,
                    all_qty=False,
                )
                res = self._sender.post_change(rec, body, "cancel")
                if isinstance(res, Ack) and not res.accepted:
                    return res
                if not isinstance(res, Ack):  # else: found by inquiry, already linked
                    self._sender.link_change(rec, res, "cancel", qty=cut, all_qty=False)
                with self._lock:
                    rec.qty = qty
                    self.store.save(rec)
            if limit_price is not None and limit_price != rec.limit_price:
                body = rvsecncl_body(
                    self.config,
                    orgno=rec.orgno,
                    odno=rec.odno,
                    ord_dvsn=ep.ORD_DVSN_LIMIT,
                    cancel=False,
                    qty=0,
                    price=limit_price,
                    all_qty=True,
                )
                res = self._sender.post_change(rec, body, "revise")
                if isinstance(res, Ack) and not res.accepted:
                    return res
                with self._lock:
                    rec.limit_price = limit_price
                if not isinstance(res, Ack):
                    self._sender.link_change(rec, res, "revise")
            return Ack(client_order_id, True, rec.odno)

    def drain_events(self) -> list[BrokerEvent]:
        """Fills and order updates since the last call; a fill always comes before the
        terminal update of its order."""
        try:
            if self._resync_needed:
                self.resync()
            self._recon.check_expiry()
            if not self._notices and self._has_open() and self._poll_due():
                self._recon.refresh(force=True)
        except KisError as exc:  # inquiry is down: deliver what we have, try again next call
            log.warning("inquiry for events failed (%s); will retry", exc)
        with self._lock:
            events, self._events = self._events, []
        return _fills_first(events)

    def open_orders(self) -> list[VenueOrder]:
        self._recon.refresh(force=True)
        now = self._now()
        with self._lock:
            return [
                from_record(r)
                for r in self.store.orders.values()
                if r.status.is_open and not self._recon.past_session(r, now)
            ]

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self._lock:
            rec = self.store.orders.get(client_order_id)
        if rec is None or rec.pending:
            return None
        if not rec.status.is_terminal and rec.ord_dt is not None:
            self._recon.refresh(force=False)
        with self._lock:
            return from_record(rec)

    def fills(self) -> list[Fill]:
        """Every fill known: booked from notices or inquiry (and kept in the order map), plus
        whatever today's inquiry shows beyond them."""
        self._recon.refresh(force=True)
        with self._lock:
            return sorted(self.store.fills.values(), key=lambda f: (f.ts, f.fill_id))

    def balance(self) -> Balance:
        summary, holdings = self.account()
        return Balance(summary.d2, {h.symbol: h.qty for h in holdings if h.qty > 0})

    # ------------------------------------------------------------------ more than the port

    def account(self) -> tuple[AccountSummary, list[Holding]]:
        """inquire-balance: the deposits and every holding (``Balance.cash`` is the D+2
        deposit, the cash after every trade so far — what SimBroker calls cash)."""
        rows, last = self.rest.get_pages(ep.BALANCE, balance_params(self.config), ("output1",))
        out2 = last.body.get("output2")
        summary_raw = out2[0] if isinstance(out2, list) and out2 else out2
        if not isinstance(summary_raw, dict):
            raise ProtocolError("KIS inquire-balance: no output2 summary")
        return account_summary(summary_raw), [holding(r) for r in rows]

    def quote(self, symbol: str) -> Quote:
        res = self.rest.get(ep.PRICE, quote_params(symbol))
        out = res.body.get("output")
        if not isinstance(out, dict):
            raise ProtocolError("KIS inquire-price: no output")
        return quote(symbol, out)

    def order_book(self, symbol: str) -> OrderBook:
        res = self.rest.get(ep.ORDERBOOK, quote_params(symbol))
        out = res.body.get("output1")
        if not isinstance(out, dict):
            raise ProtocolError("KIS inquire-asking-price-exp-ccn: no output1")
        return order_book(symbol, out)

    def subscribe_trades(self, symbol: str) -> None:
        self._ws().subscribe(ep.WS_TRADES, symbol)

    def subscribe_orderbook(self, symbol: str) -> None:
        self._ws().subscribe(ep.WS_ORDERBOOK, symbol)

    def unsubscribe(self, tr_id: str, symbol: str) -> None:
        self._ws().unsubscribe(tr_id, symbol)

    def drain_market(self) -> list[MarketEvent]:
        """Trade prints and order-book snapshots since the last call (oldest dropped past 50k)."""
        with self._lock:
            out = list(self._market)
            self._market.clear()
            return out

    def wait_events(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` events are queued (or a resync is due)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._events) < count and not self._resync_needed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def resync(self) -> None:
        """Book by inquiry whatever the notices missed, then release held status updates."""
        with self._lock:
            self._resync_needed = False
        try:
            self._recon.refresh(force=True)
        except BaseException:
            with self._lock:
                self._resync_needed = True
            raise
        with self._lock:
            for update in self._held:
                self._emit(update)
            self._held.clear()

    # ------------------------------------------------------------------ events

    def _emit(self, event: BrokerEvent) -> None:
        self._events.append(event)
        self._cond.notify_all()

    def _report(self, update: OrderUpdate) -> None:
        """A terminal update: held back while a resync may still book fills before it."""
        if self._resync_needed:
            self._held.append(update)
        else:
            self._emit(update)

    # ------------------------------------------------------------------ WebSocket callbacks

    def _on_ws_ready(self, generation: int) -> None:
        if generation > 1:
            log.info("websocket session %d ready; resyncing by inquiry", generation)
            with self._cond:
                self._resync_needed = True
                self._cond.notify_all()

    def _on_ws_data(self, tr_id: str, records: list[list[str]]) -> None:
        if tr_id in (ep.WS_NOTICE_PAPER, ep.WS_NOTICE_REAL):
            for values in records:
                notice = fill_notice(values)
                with self._lock:
                    self._recon.apply_notice(notice, self._today())
        elif tr_id == ep.WS_TRADES:
            with self._lock:
                self._market.extend(trade_tick(v) for v in records)
        elif tr_id == ep.WS_ORDERBOOK:
            with self._lock:
                self._market.extend(book_snapshot(v) for v in records)

    # ------------------------------------------------------------------ helpers

    def _open_record(self, client_order_id: str) -> OrderRecord | None:
        with self._lock:
            rec = self.store.orders.get(client_order_id)
            if rec is None or rec.pending or rec.status.is_terminal or not rec.odno:
                return None
            return rec

    def _has_open(self) -> bool:
        with self._lock:
            return any(r.status.is_open for r in self.store.orders.values())

    def _poll_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_poll < max(self.config.inquiry_cache_s, 0.5):
            return False
        self._last_poll = now
        return True

    def _ws(self) -> KisWebSocket:
        if self.ws is None:
            raise KisError("KIS websocket is disabled in the configuration")
        return self.ws

    def _now(self) -> datetime:
        return self.clock.now()

    def _today(self) -> date:
        return self.clock.now().astimezone(KST).date()


def _dvsn(rec: OrderRecord) -> str:
    return ep.ORD_DVSN_MARKET if rec.order_type is OrderType.MARKET else ep.ORD_DVSN_LIMIT


def _check_request(req: OrderRequest) -> tuple[str, str] | None:
    """Refusals the adapter can give without asking KIS (KIS would refuse them too)."""
    if req.qty <= 0:
        return INVALID_QTY, f"qty must be a positive whole number, got {req.qty}"
    if req.order_type is OrderType.LIMIT and (req.limit_price is None or req.limit_price <= 0):
        return INVALID_PRICE, "a LIMIT order needs a positive limit price"
    if req.order_type is OrderType.MARKET and req.limit_price is not None:
        return INVALID_PRICE, "a MARKET order takes no limit price"
    return None


def _fills_first(events: list[BrokerEvent]) -> list[BrokerEvent]:
    """Move a terminal update after the last fill of its order in the same batch."""
    last_fill: dict[str, int] = {}
    for i, e in enumerate(events):
        if isinstance(e, Fill):
            last_fill[e.client_order_id] = i
    if not last_fill:
        return events
    out: list[BrokerEvent] = []
    moved: list[BrokerEvent] = []
    for i, e in enumerate(events):
        if isinstance(e, OrderUpdate) and last_fill.get(e.client_order_id, -1) > i:
            moved.append(e)
        else:
            out.append(e)
    return out + moved
