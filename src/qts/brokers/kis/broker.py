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
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, OrderUpdate, VenueOrder
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.errors import KisError, OrderOutcomeUnknown, ProtocolError
from qts.brokers.kis.mapping import (
    AccountSummary,
    CcldRow,
    FillNotice,
    Holding,
    OrderBook,
    Quote,
    TradeTick,
    account_summary,
    at_kst,
    balance_params,
    book_snapshot,
    ccld_row,
    daily_ccld_params,
    fill_notice,
    holding,
    kis_date,
    order_book,
    order_cash_body,
    order_type_of,
    quote,
    quote_params,
    rvsecncl_body,
    trade_tick,
)
from qts.brokers.kis.orderstore import OdnoLink, OrderRecord, OrderStore
from qts.brokers.kis.redact import logger, register_secrets
from qts.brokers.kis.rest import AmbiguousOrder, KisResponse, KisRestClient
from qts.brokers.kis.websocket import KisWebSocket
from qts.core.clock import Clock, WallClock
from qts.core.time import KST
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel, KrxFees
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.instrument import Instrument

log = logger("qts.brokers.kis.broker")

UNKNOWN_ORDER = "UNKNOWN_ORDER"
INVALID_QTY = "INVALID_QTY"
INVALID_PRICE = "INVALID_PRICE"
_MATCH_SKEW = timedelta(seconds=90)  # KIS's ORD_TMD vs our clock when matching an intent
_MAX_PARKED = 2_000
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
        self._parked: dict[tuple[date, str], list[FillNotice]] = {}
        self._resync_needed = any(
            not r.status.is_terminal and not r.foreign for r in self.store.orders.values()
        )
        self._last_refresh = float("-inf")
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
                    return self._ack(rec, duplicate=True)
            if rec is not None:
                # an earlier attempt ended without an answer: find it before sending again
                if self._lookup(rec):
                    return self._ack(rec, duplicate=True)
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
                    self._reject(rec, *refusal)
                    return self._ack(rec)
                with self._lock:
                    self.store.save(rec)  # the intent is on disk before the POST
            return self._send_new(rec)

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
            res = self._post_change(rec, body, "cancel")
            if isinstance(res, Ack):
                return res
            self._link_change(rec, res, "cancel", qty=rec.remaining, all_qty=True)
            if not self._notices:
                self._refresh(force=True)
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
                res = self._post_change(rec, body, "cancel")
                if isinstance(res, Ack) and not res.accepted:
                    return res
                if not isinstance(res, Ack):  # else: found by inquiry, already linked
                    self._link_change(rec, res, "cancel", qty=cut, all_qty=False)
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
                res = self._post_change(rec, body, "revise")
                if isinstance(res, Ack) and not res.accepted:
                    return res
                with self._lock:
                    rec.limit_price = limit_price
                if not isinstance(res, Ack):
                    self._link_change(rec, res, "revise")
            return Ack(client_order_id, True, rec.odno)

    def drain_events(self) -> list[BrokerEvent]:
        """Fills and order updates since the last call; a fill always comes before the
        terminal update of its order."""
        try:
            if self._resync_needed:
                self.resync()
            self._check_expiry()
            if not self._notices and self._has_open() and self._poll_due():
                self._refresh(force=True)
        except KisError as exc:  # inquiry is down: deliver what we have, try again next call
            log.warning("inquiry for events failed (%s); will retry", exc)
        with self._lock:
            events, self._events = self._events, []
        return _fills_first(events)

    def open_orders(self) -> list[VenueOrder]:
        self._refresh(force=True)
        now = self._now()
        with self._lock:
            return [
                self._view(r)
                for r in self.store.orders.values()
                if r.status.is_open and not self._past_session(r, now)
            ]

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self._lock:
            rec = self.store.orders.get(client_order_id)
        if rec is None or rec.pending:
            return None
        if not rec.status.is_terminal and rec.ord_dt is not None:
            self._refresh(force=False)
        with self._lock:
            return self._view(rec)

    def fills(self) -> list[Fill]:
        """Every fill known: booked from notices or inquiry (and kept in the order map), plus
        whatever today's inquiry shows beyond them."""
        self._refresh(force=True)
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
            self._refresh(force=True)
        except BaseException:
            with self._lock:
                self._resync_needed = True
            raise
        with self._lock:
            for update in self._held:
                self._emit(update)
            self._held.clear()

    # ------------------------------------------------------------------ sending

    def _send_new(self, rec: OrderRecord) -> Ack:
        api = ep.ORDER_BUY if rec.side is OrderSide.BUY else ep.ORDER_SELL
        req = OrderRequest(
            rec.client_order_id, rec.symbol, rec.side, rec.order_type, rec.qty, rec.limit_price
        )
        body = order_cash_body(self.config, req)
        for attempt in range(2):
            try:
                res = self.rest.post_order(api, body)
            except AmbiguousOrder as exc:
                log.warning(
                    "order %s: %s; looking it up before any resend", rec.client_order_id, exc
                )
                if self._lookup(rec):
                    return self._ack(rec)
                if attempt == 1:
                    raise OrderOutcomeUnknown(
                        f"KIS order {rec.client_order_id}: no answer twice and not found by "
                        "inquiry; submit it again later to look it up once more"
                    ) from None
                log.warning("order %s: not found at KIS; sending it again", rec.client_order_id)
                continue
            # any other KisError (token, rate-limit retries exhausted, no connection before
            # sending) propagates: the order was not placed, the intent stays recorded, and a
            # later submit of the same id looks it up and sends it then
            if not res.ok:
                self._reject(rec, res.msg_cd, res.msg1)
                return self._ack(rec)
            self._accept(rec, res)
            return self._ack(rec)
        raise AssertionError("unreachable")  # pragma: no cover

    def _accept(self, rec: OrderRecord, res: KisResponse) -> None:
        out = _output(res, "order-cash")
        odno, orgno = (
            str(out.get("ODNO", "")).strip(),
            str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip(),
        )
        if not odno:
            raise ProtocolError("KIS order-cash: no ODNO in the answer")
        day = self._today()
        with self._lock:
            rec.ord_dt, rec.odno, rec.first_odno, rec.orgno = day, odno, odno, orgno
            rec.status = OrderStatus.SUBMITTED
            rec.updated_at = self._now()
            link = OdnoLink(day, odno, rec.client_order_id, "order")
            self.store.save(rec, (link,))
            self._replay_parked(link)
        log.info(
            "order %s accepted: %s %s x%d (ODNO %s)",
            rec.client_order_id,
            rec.side.value,
            rec.symbol,
            rec.qty,
            odno,
        )

    def _reject(self, rec: OrderRecord, code: str, reason: str) -> None:
        with self._lock:
            rec.status = OrderStatus.REJECTED
            rec.code, rec.reason = code, reason
            rec.updated_at = self._now()
            self.store.save(rec)
        log.warning(
            "order %s %s %s x%d rejected: %s %s",
            rec.client_order_id,
            rec.side.value,
            rec.symbol,
            rec.qty,
            code,
            reason,
        )

    def _post_change(self, rec: OrderRecord, body: dict[str, str], kind: str) -> KisResponse | Ack:
        """POST a revise/cancel: the answer, a refusal as an ``Ack``, or an accepted ``Ack`` when
        an unanswered POST was found done by inquiry (already linked then). A cancel or revise
        is safe to resend (KIS refuses one for an order no longer open), but an unknown outcome
        is still looked up first."""
        known = {x.odno for x in self.store.chain(rec.client_order_id)}
        for attempt in range(2):
            try:
                res = self.rest.post_order(ep.REVISE_CANCEL, body)
            except AmbiguousOrder:
                self._refresh(force=True)
                with self._lock:
                    fresh = [
                        x
                        for x in self.store.chain(rec.client_order_id)
                        if x.odno not in known and x.kind == kind
                    ]
                if fresh:
                    return Ack(rec.client_order_id, True, rec.odno)
                if attempt == 1:
                    raise OrderOutcomeUnknown(
                        f"KIS {kind} of {rec.client_order_id}: no answer twice"
                    ) from None
                continue
            except KisError as exc:
                return self._refused_change(rec, exc.msg1 or str(exc), exc.msg_cd)
            if not res.ok:
                return self._refused_change(rec, res.msg1, res.msg_cd)
            return res
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused_change(self, rec: OrderRecord, reason: str, code: str) -> Ack:
        """KIS refused a revise/cancel. Mostly the order is no longer open there (filled or
        expired while the notice was on its way): look it up at once, so its fills and its end
        reach the books now rather than at the next notice or poll."""
        try:
            self._refresh(force=True, day=rec.ord_dt)
        except KisError as exc:
            log.warning("lookup after a refused change of %s failed: %s", rec.client_order_id, exc)
        return Ack(rec.client_order_id, False, rec.odno, reason, code)

    def _link_change(
        self, rec: OrderRecord, res: KisResponse, kind: str, *, qty: int = 0, all_qty: bool = False
    ) -> None:
        out = _output(res, "order-rvsecncl")
        odno = str(out.get("ODNO", "")).strip()
        if not odno:
            raise ProtocolError("KIS order-rvsecncl: no ODNO in the answer")
        day = rec.ord_dt or self._today()
        with self._lock:
            link = self.store.link(day, odno) or OdnoLink(
                day, odno, rec.client_order_id, kind, qty=qty, all_qty=all_qty
            )
            if kind == "revise":
                rec.odno = odno
                orgno = str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip()
                rec.orgno = orgno or rec.orgno
            rec.updated_at = self._now()
            self.store.save(rec, (link,))
            self._replay_parked(link)

    def _lookup(self, rec: OrderRecord) -> bool:
        """Find an order whose POST had no definite answer; True once it is mapped."""
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                time.sleep(self.config.lookup_delay_s)
            try:
                self._refresh(force=True, day=rec.sent_at.astimezone(KST).date())
            except KisError as exc:
                log.warning("lookup of %s failed: %s", rec.client_order_id, exc)
                continue
            with self._lock:
                if not rec.pending:
                    log.info(
                        "order %s found at KIS by inquiry (ODNO %s)", rec.client_order_id, rec.odno
                    )
                    return True
        return False

    # ------------------------------------------------------------------ inquiry

    def _refresh(self, *, force: bool, day: date | None = None) -> None:
        if not force and time.monotonic() - self._last_refresh < self.config.inquiry_cache_s:
            return
        d = day or self._today()
        raw, _ = self.rest.get_pages(ep.DAILY_CCLD, daily_ccld_params(self.config, d))
        rows = [ccld_row(r) for r in raw]
        with self._lock:
            self._apply_rows(rows)
            self._last_refresh = time.monotonic()

    def _apply_rows(self, rows: list[CcldRow]) -> None:
        """Map KIS's rows to client orders, book missing fills, then apply statuses."""
        store = self.store
        by_key = {r.key: r for r in rows}
        pending = sorted(store.pending(), key=lambda r: r.sent_at)
        for row in rows:
            if store.link(*row.key) is not None:
                continue
            if not row.is_original:
                parent = store.link(row.ord_dt, row.orgn_odno)
                if parent is not None:
                    kind = "cancel" if row.cancel else "revise"
                    rec = store.orders[parent.client_order_id]
                    link = OdnoLink(
                        row.ord_dt,
                        row.odno,
                        rec.client_order_id,
                        kind,
                        qty=row.ord_qty,
                        all_qty=row.cancel and row.ord_qty >= rec.remaining,
                        confirmed=row.cancel,
                    )
                    if kind == "revise":
                        rec.odno, rec.limit_price = row.odno, row.ord_unpr or rec.limit_price
                    store.save(rec, (link,))
                    self._drop_parked_fills(link)
                    continue
            match = next((p for p in pending if _matches(p, row)), None)
            if match is not None:
                pending.remove(match)
                match.ord_dt, match.odno, match.first_odno = row.ord_dt, row.odno, row.odno
                match.orgno = row.orgno
                match.status = OrderStatus.SUBMITTED
                match.updated_at = self._now()
                link = OdnoLink(row.ord_dt, row.odno, match.client_order_id, "order")
                store.save(match, (link,))
                self._drop_parked_fills(link)
                continue
            if any(_resembles(p, row) for p in pending):
                continue  # may still be claimed by an intent of ours; decide next time
            self._adopt_foreign(row)
        for row in rows:
            known = store.link(*row.key)
            if known is None or row.cancel:
                continue
            if row.tot_ccld_qty > known.cum_qty:
                qty = row.tot_ccld_qty - known.cum_qty
                amount = row.tot_ccld_amt - known.cum_amount
                price = round(amount / qty) if amount > 0 else row.ord_unpr
                ts = at_kst(row.ord_dt, row.infm_tmd or row.ord_tmd)
                self._book_fill(known, qty, price, ts)
            elif row.tot_ccld_qty < known.cum_qty:
                log.error(
                    "ODNO %s: %d filled here, KIS says %d",
                    row.odno,
                    known.cum_qty,
                    row.tot_ccld_qty,
                )
        for rec in list(store.orders.values()):
            if rec.status.is_terminal or rec.pending or rec.ord_dt is None:
                continue
            live = by_key.get((rec.ord_dt, rec.odno))
            if live is None or live.rmn_qty > 0 or rec.filled_qty >= rec.qty:
                continue
            chain = store.chain(rec.client_order_id)
            if live.rjct_qty > 0:
                self._finish(rec, OrderStatus.REJECTED, "rejected by KRX")
            elif live.cnc_cfrm_qty > 0 or any(x.kind == "cancel" for x in chain):
                for x in chain:
                    if x.kind == "cancel" and not x.confirmed:
                        x.confirmed = True
                        store.save(links=(x,))
                self._finish(rec, OrderStatus.CANCELED, "canceled")

    def _adopt_foreign(self, row: CcldRow) -> None:
        """An order placed outside this adapter (HTS, another program, a lost map)."""
        store = self.store
        if not row.is_original:
            parent = store.link(row.ord_dt, row.orgn_odno)
            if parent is None:
                log.warning("ODNO %s: revision of an unknown order %s", row.odno, row.orgn_odno)
                return
        coid = f"KIS:{kis_date(row.ord_dt)}:{row.odno}"
        otype = order_type_of(row.ord_dvsn)
        rec = OrderRecord(
            coid,
            row.symbol,
            row.side,
            otype,
            row.ord_qty,
            None if otype is OrderType.MARKET else row.ord_unpr,
            at_kst(row.ord_dt, row.ord_tmd),
            ord_dt=row.ord_dt,
            orgno=row.orgno,
            odno=row.odno,
            first_odno=row.odno,
            status=OrderStatus.SUBMITTED,
            foreign=True,
        )
        link = OdnoLink(row.ord_dt, row.odno, coid, "order")
        store.save(rec, (link,))
        self._drop_parked_fills(link)
        log.warning("ODNO %s: an order this adapter did not send; tracked as %s", row.odno, coid)

    # ------------------------------------------------------------------ booking

    def _book_fill(self, link: OdnoLink, qty: int, price: int, ts: datetime) -> None:
        rec = self.store.orders[link.client_order_id]
        if qty > rec.remaining:
            log.error(
                "order %s: fill of %d exceeds the %d remaining; booking the remainder only",
                rec.client_order_id,
                qty,
                rec.remaining,
            )
            qty = rec.remaining
        if qty <= 0 or price <= 0:
            return
        link.cum_qty += qty
        link.cum_amount += qty * price
        fill_id = f"{kis_date(link.ord_dt)}-{link.odno}-{link.cum_qty}"
        amount = qty * price
        inst = self.instruments.get(rec.symbol) or Instrument(rec.symbol)
        commission = self.fees.commission(amount, inst)
        tax = 0
        if rec.side is OrderSide.SELL:
            tax = self.fees.sell_tax(amount, inst, self.calendar.settlement_date(ts.date()))
        fill = Fill(
            fill_id, rec.client_order_id, rec.symbol, rec.side, qty, price, ts, commission, tax
        )
        rec.filled_qty += qty
        rec.filled_amount += amount
        if not rec.status.is_terminal:
            rec.status = (
                OrderStatus.FILLED if rec.filled_qty >= rec.qty else OrderStatus.PARTIALLY_FILLED
            )
        rec.updated_at = ts
        self.store.save(rec, (link,), (fill,))
        if not rec.foreign:
            self._emit(fill)

    def _finish(self, rec: OrderRecord, status: OrderStatus, reason: str) -> None:
        if rec.status.is_terminal:
            return
        rec.status = status
        rec.reason = reason
        rec.updated_at = self._now()
        self.store.save(rec)
        if rec.foreign:
            return
        update = OrderUpdate(rec.client_order_id, status, rec.updated_at, reason)
        if self._resync_needed:
            self._held.append(update)
        else:
            self._emit(update)

    def _emit(self, event: BrokerEvent) -> None:
        self._events.append(event)
        self._cond.notify_all()

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
                    self._apply_notice(notice, self._today())
        elif tr_id == ep.WS_TRADES:
            with self._lock:
                self._market.extend(trade_tick(v) for v in records)
        elif tr_id == ep.WS_ORDERBOOK:
            with self._lock:
                self._market.extend(book_snapshot(v) for v in records)

    def _apply_notice(self, n: FillNotice, day: date) -> None:
        link = self.store.link(day, n.odno)
        if link is None:
            parked = self._parked.setdefault((day, n.odno), [])
            parked.append(n)
            if sum(len(v) for v in self._parked.values()) > _MAX_PARKED:
                self._parked.pop(next(iter(self._parked)))
            return
        rec = self.store.orders[link.client_order_id]
        if n.refused:
            if link.kind == "order" and rec.filled_qty == 0:
                self._finish(rec, OrderStatus.REJECTED, "refused by KRX")
            else:
                log.warning("KIS refused a %s of %s", link.kind, rec.client_order_id)
            return
        if n.is_fill:
            self._book_fill(link, n.qty, n.price, at_kst(day, n.hour))
            return
        if n.is_cancel and link.kind == "cancel" and not link.confirmed:
            link.confirmed = True
            self.store.save(links=(link,))
            if link.all_qty:  # a partial cancel only lowered the quantity
                self._finish(rec, OrderStatus.CANCELED, "canceled")

    def _replay_parked(self, link: OdnoLink) -> None:
        for n in self._parked.pop((link.ord_dt, link.odno), []):
            self._apply_notice(n, link.ord_dt)

    def _drop_parked_fills(self, link: OdnoLink) -> None:
        """A link made from an inquiry row: its totals already hold the parked fills."""
        parked = self._parked.pop((link.ord_dt, link.odno), [])
        for n in parked:
            if not n.is_fill:
                self._apply_notice(n, link.ord_dt)

    # ------------------------------------------------------------------ helpers

    def _ack(self, rec: OrderRecord, duplicate: bool = False) -> Ack:
        if rec.status is OrderStatus.REJECTED and not rec.odno:
            return Ack(rec.client_order_id, False, None, rec.reason, rec.code, duplicate)
        return Ack(rec.client_order_id, True, rec.odno, duplicate=duplicate)

    def _view(self, rec: OrderRecord) -> VenueOrder:
        reason = f"{rec.code}: {rec.reason}" if rec.code else rec.reason
        return VenueOrder(
            rec.client_order_id,
            rec.odno,
            rec.symbol,
            rec.side,
            rec.order_type,
            rec.qty,
            rec.limit_price,
            rec.status,
            rec.filled_qty,
            reason,
        )

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

    def _check_expiry(self) -> None:
        """Day orders die at their session's close; report it once inquiry has the last fills."""
        now = self._now()
        with self._lock:
            due = [
                r
                for r in self.store.orders.values()
                if r.status.is_open and not r.foreign and self._past_session(r, now)
            ]
        if not due:
            return
        self._refresh(force=True, day=min(r.ord_dt for r in due if r.ord_dt))
        with self._lock:
            for rec in due:
                if rec.status.is_open and rec.ord_dt is not None:
                    self._finish(rec, OrderStatus.EXPIRED, "session end")

    def _past_session(self, rec: OrderRecord, now: datetime) -> bool:
        if rec.ord_dt is None:
            return False
        return now >= self._close_of(rec.ord_dt) + timedelta(seconds=self.config.expiry_grace_s)

    def _close_of(self, day: date) -> datetime:
        try:
            return self.calendar.session(day).close
        except ValueError:
            return datetime.combine(day, dtime(15, 30), tzinfo=KST)

    def _ws(self) -> KisWebSocket:
        if self.ws is None:
            raise KisError("KIS websocket is disabled in the configuration")
        return self.ws

    def _now(self) -> datetime:
        return self.clock.now()

    def _today(self) -> date:
        return self.clock.now().astimezone(KST).date()


def _output(res: KisResponse, where: str) -> dict[str, Any]:
    out = res.body.get("output")
    if not isinstance(out, dict):
        raise ProtocolError(f"KIS {where}: no output object in the answer")
    return out


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


def _resembles(rec: OrderRecord, row: CcldRow) -> bool:
    if not row.is_original or row.cancel:
        return False
    if row.symbol != rec.symbol or row.side is not rec.side or row.ord_qty != rec.qty:
        return False
    if rec.order_type is OrderType.MARKET:
        return order_type_of(row.ord_dvsn) is OrderType.MARKET
    return row.ord_unpr == rec.limit_price


def _matches(rec: OrderRecord, row: CcldRow) -> bool:
    if not _resembles(rec, row):
        return False
    placed = at_kst(row.ord_dt, row.ord_tmd)
    return placed >= rec.sent_at - _MATCH_SKEW


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
