"""KiwoomBroker: the Broker port over Kiwoom's REST API.

* **Orders** go to ``/api/dostk/ordr`` (kt10000 buy, kt10001 sell, kt10002 modify, kt10003
  cancel), one at a time, each written ahead to the order store (:mod:`store`). An order call
  that ends without a definite answer (timeout, dropped connection, 5xx) is **looked up** in
  the account's order list, never resent; if it cannot be found it stays ``UNCONFIRMED`` (the
  ack says so) until a later inquiry finds it or ``unconfirmed_grace_s`` passes (then an
  ``OrderUpdate(REJECTED, "FS042: …")``).
* **Fills and order updates** come from polling the account inquiries in a background thread
  every ``poll_interval_s`` (the package README says why polling and not the WebSocket):
  ka10075 open orders → kt00009 order rows → kt00009 executions → ka10076 fees. The reads go
  in that order so that an order missing from the open list is explained by the later reads.
* **Reconciliation** (``open_orders``, ``order``, ``fills``, ``balance``) asks Kiwoom each time;
  after a restart the order store names the orders again.

The broker holds the order path and the poller's thread; the reads are :mod:`inquiry`, the
matching of reads with the order map :mod:`reconcile`, the fills :mod:`fills`, and the
``VenueOrder`` views :mod:`snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from types import TracebackType

import httpx

from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, VenueOrder
from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.config import KiwoomConfig
from qts.brokers.kiwoom.errors import (
    UNCONFIRMED,
    KiwoomApiError,
    KiwoomError,
    KiwoomProtocolError,
    KiwoomTransportError,
    reject_code,
)
from qts.brokers.kiwoom.fills import fill_id, fill_key, make_fills, venue_order
from qts.brokers.kiwoom.inquiry import (
    day_of,
    read_exec_rows,
    read_fill_rows,
    read_open_rows,
    read_venue,
)
from qts.brokers.kiwoom.reconcile import Reconciler
from qts.brokers.kiwoom.rest import KiwoomRestClient
from qts.brokers.kiwoom.snapshot import from_record, venue_orders
from qts.brokers.kiwoom.store import (
    MemoryOrderStore,
    OrderRecord,
    OrderStore,
    RecordState,
    SqliteOrderStore,
)
from qts.core.clock import Clock, WallClock
from qts.core.errors import ConfigError, InputError
from qts.core.time import KST
from qts.model.enums import OrderStatus, OrderType
from qts.model.fill import Fill

log = logging.getLogger(__name__)

UNKNOWN_ORDER = "UNKNOWN_ORDER"


class KiwoomBroker:
    """A Kiwoom account behind the :class:`~qts.brokers.base.Broker` protocol.

    ``clock`` is the trading clock (order dates, event times, the grace period); ``token_clock``
    the wall clock the token expiry is checked against. Both default to the wall clock.
    ``start=False`` leaves the broker idle until :meth:`start` (tests, tools, and a live run,
    whose clock knows the venue's day only from the first trade print).
    """

    name = "kiwoom"

    def __init__(
        self,
        config: KiwoomConfig,
        *,
        store: OrderStore | None = None,
        clock: Clock | None = None,
        token_clock: Clock | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        start: bool = True,
    ) -> None:
        self.config = config
        self.rest = KiwoomRestClient(config, http=http, token_clock=token_clock, sleep=sleep)
        if store is None:
            store = SqliteOrderStore(config.state_path) if config.state_path else MemoryOrderStore()
        self.store = store
        self._clock = clock or WallClock()
        self._sleep = sleep
        self._order_lock = threading.Lock()
        self._poll_lock = threading.RLock()  # also guards _recon and record updates
        self._events_lock = threading.Lock()
        self._events: list[BrokerEvent] = []
        # the poller's memory: fills and fees reported, orders believed open, in flight, ...
        self._recon = Reconciler(config, store, self.rest, self._poll_lock, sleep)
        self._cond = threading.Condition()
        self._polled_at: datetime | None = None  # the clock at the last poll
        self._started = 0
        self._done = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self.last_error: KiwoomError | None = None
        self.consecutive_failures = 0
        self._verified = False
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"KiwoomBroker({self.config.mode.value}, {self.config.rest_url})"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Check the account, read the venue once (silently), start the poller.

        From here on the clock dates everything: the records of the order map are Kiwoom's
        numbers *of a day* (they restart daily), and the inquiries answer for the venue's
        today. A clock on another day than the venue's would take every order of the map for
        one of an earlier day (expired), every fill for one QTS never placed, and every order
        in doubt for one past its grace period, and write that down for good.
        """
        if self._running:
            return
        self.verify_account()
        for rec in self.store.all():
            if rec.state is RecordState.PLACED and not rec.final:
                self._recon.open.add(rec.client_order_id)
        with self._poll_lock:
            self._poll(emit=False, force=True)
        self._running = True
        if self.config.poll_interval_s is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kiwoom-poller", daemon=True)
            self._thread.start()

    def close(self, *, revoke: bool = False) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._running = False
        if revoke:
            self.rest.auth.revoke()
        self.rest.close()
        self.store.close()

    def __enter__(self) -> KiwoomBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the Broker port

    def submit(self, request: OrderRequest) -> Ack:
        coid = request.client_order_id
        with self._order_lock:
            rec = self.store.get(coid)
            if rec is not None:
                return self._answer_again(rec)
            now = self._now()
            rec = OrderRecord(
                client_order_id=coid,
                symbol=request.symbol,
                side=request.side,
                order_type=request.order_type,
                qty=request.qty,
                limit_price=request.limit_price,
                day=day_of(now),
                created_at=now,
            )
            problem = _check_request(request)
            if problem is not None:
                code, reason = problem
                self.store.put(replace(rec, state=RecordState.REJECTED, code=code, reason=reason))
                return Ack(coid, False, None, reason, code)
            self.store.put(rec)  # write-ahead: from here on the id is never sent again
            # no grace period runs until the call's outcome is written down: the call may wait
            # its turn under the rate limit, and on a fast replay's clock the grace passes then
            self._recon.in_flight.add(coid)
            try:
                return self._send(rec, request)
            finally:
                self._recon.in_flight.discard(coid)

    def _send(self, rec: OrderRecord, request: OrderRequest) -> Ack:
        """The order call of a written-ahead record, and its outcome written down."""
        coid = rec.client_order_id
        body = m.order_body(request, self.config.exchange)
        try:
            reply = self.rest.call(m.ORDER_PATH, m.order_api(request.side), body, idempotent=False)
        except KiwoomTransportError as exc:
            if not exc.sent:
                return self._refuse(rec, "BROKER_UNAVAILABLE", str(exc))
            log.warning("kiwoom: order %s: %s; looking it up", coid, exc)
            return self._look_up(rec, str(exc))
        except KiwoomError as exc:
            return self._refuse(rec, reject_code(exc), str(exc))
        try:
            ord_no = m.order_no(reply.body.get("ord_no"))
        except InputError:
            ord_no = ""
        if not ord_no:
            return self._look_up(rec, "kiwoom accepted the order without an order number")
        self._recon.placed(rec, ord_no)
        log.info("kiwoom: order %s placed as %s", coid, ord_no)
        return Ack(coid, True, ord_no)

    def cancel(self, client_order_id: str) -> Ack:
        with self._order_lock:
            rec, refusal = self._live(client_order_id)
            if refusal is not None:
                return refusal
            assert rec is not None
            body = m.cancel_body(self.config.exchange, rec.current, rec.symbol, 0)
            outcome = self._change(rec, m.CANCEL, body)
            if outcome is not None:
                return outcome
            self._recon.update(client_order_id, cancel_requested=True)
        self._wake.set()  # the CANCELED update follows from the next poll, after any fills
        return Ack(client_order_id, True, rec.current)

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack:
        """Kiwoom (KRX) can lower an order's quantity (a partial cancel, kt10003) and move its
        price (a modify, kt10002, which gives the order a new number) but not raise its
        quantity: that is refused with ``INVALID_QTY`` — send a new order instead."""
        with self._order_lock:
            rec, refusal = self._live(client_order_id)
            if refusal is not None:
                return refusal
            assert rec is not None
            try:
                open_rows = read_open_rows(self.rest)
            except KiwoomError as exc:
                return Ack(client_order_id, False, rec.current, str(exc), "BROKER_UNAVAILABLE")
            row = open_rows.get(rec.current)
            if row is None:
                return Ack(
                    client_order_id,
                    False,
                    rec.current,
                    f"order {client_order_id!r} is not open at Kiwoom",
                    UNKNOWN_ORDER,
                )
            filled = max(0, rec.qty - row.open_qty)
            new_open = qty - filled
            market = rec.order_type is OrderType.MARKET
            if market and limit_price is not None:
                return Ack(
                    client_order_id,
                    False,
                    rec.current,
                    f"a MARKET order takes no limit price, got {limit_price}",
                    "INVALID_PRICE",
                )
            if new_open <= 0:
                return Ack(
                    client_order_id,
                    False,
                    rec.current,
                    f"new qty {qty} must exceed the {filled} already filled; cancel instead",
                    "INVALID_QTY",
                )
            if new_open > row.open_qty:
                return Ack(
                    client_order_id,
                    False,
                    rec.current,
                    f"Kiwoom cannot raise an order's quantity ({row.open_qty} open, "
                    f"{new_open} asked); send a new order for the difference",
                    "INVALID_QTY",
                )
            price = row.price if limit_price is None else limit_price
            if new_open < row.open_qty:
                body = m.cancel_body(
                    self.config.exchange, rec.current, rec.symbol, row.open_qty - new_open
                )
                outcome = self._change(rec, m.CANCEL, body)
                if outcome is not None:
                    return outcome
                rec = self._recon.update(client_order_id, qty=qty)
            if not market and price != row.price:
                body = m.modify_body(self.config.exchange, rec.current, rec.symbol, new_open, price)
                outcome = self._change(rec, m.MODIFY, body)
                if outcome is not None:
                    return outcome
                rec = self._recon.update(client_order_id, qty=qty, limit_price=price)
        self._wake.set()
        return Ack(client_order_id, True, rec.current)

    def drain_events(self) -> list[BrokerEvent]:
        """Fills and order updates found by the poller since the last call, in venue order.

        Without a background poller (``poll_interval_s=None``) this polls first.
        """
        if self._thread is None and self._running:
            self.poll_once()
        with self._events_lock:
            events, self._events = self._events, []
        return events

    def open_orders(self) -> list[VenueOrder]:
        return [o for o in self._snapshot().values() if o.status.is_open]

    def order(self, client_order_id: str) -> VenueOrder | None:
        rec = self.store.get(client_order_id)
        if rec is not None and rec.day != day_of(self._now()):
            return from_record(rec, None, self._recon.open)
        return self._snapshot().get(client_order_id)

    def fills(self) -> list[Fill]:
        """Today's executions (Kiwoom's inquiries cover the current day)."""
        day = day_of(self._now())
        venue_fills = read_fill_rows(self.rest, day)
        execs = read_exec_rows(self.rest)
        out: list[Fill] = []
        by_ord: dict[str, list[m.FillRow]] = {}
        for f in venue_fills:
            by_ord.setdefault(f.ord_no, []).append(f)
        for ord_no, rows in by_ord.items():
            rows.sort(key=fill_key)
            coid = self._recon.coid_of(day, ord_no)
            known = [self._recon.fills.get(fill_id(day, r)) for r in rows]
            if all(f is not None for f in known):
                out.extend(f for f in known if f is not None)
                continue
            ex = execs.get(ord_no)
            fees = (ex.commission, ex.tax) if ex is not None else (0, 0)
            out.extend(make_fills(day, coid, rows, fees))
        out.sort(key=venue_order)
        return out

    def balance(self) -> Balance:
        deposit = self.rest.call(m.ACCOUNT_PATH, m.DEPOSIT, m.DEPOSIT_QUERY, idempotent=True)
        _, rows = self.rest.call_all(
            m.ACCOUNT_PATH,
            m.BALANCE,
            m.balance_query(self.config.exchange),
            "acnt_evlt_remn_indv_tot",
        )
        try:
            return Balance(m.cash(deposit.body), m.holdings(rows))
        except InputError as exc:
            raise KiwoomProtocolError(f"kiwoom balance: {exc}") from exc

    # ------------------------------------------------------------------ polling

    def poll_once(self) -> list[BrokerEvent]:
        """Poll now, in the caller's thread; returns the events found (also queued)."""
        with self._cond:
            self._started += 1
        try:
            with self._poll_lock:
                return self._poll(emit=True)
        finally:
            with self._cond:
                self._done += 1
                self._cond.notify_all()

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until a poll that started after this call has finished (or poll here)."""
        if self._thread is None:
            self.poll_once()
            return
        with self._cond:
            want = self._started + 1
            self._wake.set()
            if not self._cond.wait_for(lambda: self._done >= want, timeout):
                raise TimeoutError(f"kiwoom: no poll finished within {timeout}s")

    def _run(self) -> None:
        interval = self.config.poll_interval_s or 1.0
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.poll_once()
                self.consecutive_failures = 0
            except KiwoomError as exc:
                self.consecutive_failures += 1
                self.last_error = exc
                n = self.consecutive_failures
                level = logging.WARNING if n == 1 or n % 30 == 0 else logging.DEBUG
                log.log(level, "kiwoom: poll failed (%d in a row): %s", n, exc)
            except Exception:
                self.consecutive_failures += 1
                log.exception("kiwoom: poll crashed")

    def _poll(self, *, emit: bool, force: bool = False) -> list[BrokerEvent]:
        if not force and not self._recon.active():
            return []
        now = self._now()
        events: list[BrokerEvent] = []
        last = self._polled_at
        if last is not None and day_of(last) != day_of(now):
            # the clock's day turned since the last poll: the last day once more, so that its
            # executions made after that poll (the closing auction's) are booked under its date
            # (every read from here on asks for the new day's)
            old = read_venue(self.rest, last)
            self._recon.link(old)
            self._recon.adopt(old.rows, old.day)
            events.extend(self._recon.new_fills(old, last))
        venue = read_venue(self.rest, now)
        self._recon.link(venue)
        self._recon.adopt(venue.rows, venue.day)
        events.extend(self._recon.new_fills(venue, now))
        events.extend(self._recon.statuses(venue, now))
        events.extend(self._recon.expire_unconfirmed(now))
        self._polled_at = now
        if emit and events:
            with self._events_lock:
                self._events.extend(events)
        return events if emit else []

    # ------------------------------------------------------------------ snapshot

    def _snapshot(self) -> dict[str, VenueOrder]:
        now = self._now()
        with self._poll_lock:
            venue = read_venue(self.rest, now)
            self._recon.link(venue)
            self._recon.adopt(venue.rows, venue.day)
        return venue_orders(self.store.all(), venue, self._recon.open)

    # ------------------------------------------------------------------ order helpers

    def _answer_again(self, rec: OrderRecord) -> Ack:
        """A known client order id: the first answer again, never a second order."""
        coid = rec.client_order_id
        if rec.in_doubt:
            self._recon.look_up_quietly(rec)
            rec = self.store.get(coid) or rec
        if rec.state is RecordState.PLACED:
            return Ack(coid, True, rec.current, duplicate=True)
        if rec.state is RecordState.REJECTED:
            return Ack(coid, False, None, rec.reason, rec.code, duplicate=True)
        return Ack(
            coid, True, None, "not yet confirmed by Kiwoom; not sent again", UNCONFIRMED, True
        )

    def _refuse(self, rec: OrderRecord, code: str, reason: str) -> Ack:
        self.store.put(replace(rec, state=RecordState.REJECTED, code=code, reason=reason))
        log.warning("kiwoom: order %s refused: %s %s", rec.client_order_id, code, reason)
        return Ack(rec.client_order_id, False, None, reason, code)

    def _look_up(self, rec: OrderRecord, why: str) -> Ack:
        """After an order call without a definite answer: find the order, never resend it."""
        coid = rec.client_order_id
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                self._sleep(self.config.lookup_delay_s)
            ord_no = self._recon.look_up_quietly(rec)
            if ord_no:
                return Ack(coid, True, ord_no)
        with self._poll_lock:
            now_rec = self.store.get(coid) or rec
            if now_rec.state is RecordState.PLACED:  # the poller found it meanwhile
                return Ack(coid, True, now_rec.current)
            self._recon.update(coid, state=RecordState.UNCONFIRMED, reason=why)
        log.error(
            "kiwoom: order %s: no answer and not found by inquiry; it will not be resent "
            "(FS042 after %gs unless found)",
            coid,
            self.config.unconfirmed_grace_s,
        )
        return Ack(coid, True, None, f"{why}; not found by inquiry yet", UNCONFIRMED)

    def _live(self, client_order_id: str) -> tuple[OrderRecord | None, Ack | None]:
        """The record of an order that can still be changed, or the refusal to send."""
        rec = self.store.get(client_order_id)
        if rec is None:
            reason = f"no order {client_order_id!r} at this venue"
            return None, Ack(client_order_id, False, None, reason, UNKNOWN_ORDER)
        if rec.in_doubt:
            self._recon.look_up_quietly(rec)
            rec = self.store.get(client_order_id) or rec
        if rec.in_doubt:
            reason = f"order {client_order_id!r} is not confirmed by Kiwoom yet; try again"
            return None, Ack(client_order_id, False, None, reason, UNCONFIRMED)
        if rec.state is RecordState.REJECTED or rec.final:
            status = rec.final or OrderStatus.REJECTED.value
            reason = f"order {client_order_id!r} is {status}, not open"
            return None, Ack(client_order_id, False, rec.current or None, reason, UNKNOWN_ORDER)
        return rec, None

    def _change(self, rec: OrderRecord, api_id: str, body: dict[str, str]) -> Ack | None:
        """Send a cancel/modify of ``rec``; None when done (a modify's new number is stored),
        else the Ack that refuses the change."""
        coid = rec.client_order_id
        try:
            reply = self.rest.call(m.ORDER_PATH, api_id, body, idempotent=False)
        except KiwoomTransportError as exc:
            if not exc.sent:
                return Ack(coid, False, rec.current, str(exc), "BROKER_UNAVAILABLE")
            if self._recon.change_found(rec, api_id, body):
                return None
            return Ack(
                coid,
                False,
                rec.current,
                f"{exc}; the change was not found by inquiry — check and send again",
                UNCONFIRMED,
            )
        except KiwoomApiError as exc:
            code = reject_code(exc)
            if code == UNKNOWN_ORDER:
                self._wake.set()  # probably filled meanwhile: let the poller tell
            return Ack(coid, False, rec.current, str(exc), code)
        except KiwoomError as exc:
            return Ack(coid, False, rec.current, str(exc), reject_code(exc))
        if api_id == m.MODIFY:
            try:
                new_no = m.order_no(reply.body.get("ord_no"))
            except InputError:
                new_no = ""
            if not new_no:
                if self._recon.change_found(rec, api_id, body):
                    return None
                return Ack(
                    coid, False, rec.current, "modify answer without order number", UNCONFIRMED
                )
            self._recon.extend_chain(coid, new_no)
        return None

    # ------------------------------------------------------------------ inquiries

    def verify_account(self) -> None:
        """The configured account is the app key's (ka00001); checked once, before orders."""
        if self._verified or self.config.account_no is None:
            return
        reply = self.rest.call(m.ACCOUNT_PATH, m.ACCOUNTS, {}, idempotent=True)
        want = _digits(self.config.account_no.get_secret_value())
        listed = str(reply.body.get("acctNo", ""))
        accounts = {_digits(a) for a in listed.replace(",", ";").split(";") if a.strip()}
        if not any(a == want or a.startswith(want) or want.startswith(a) for a in accounts if a):
            raise ConfigError(
                "kiwoom",
                "account_no",
                "the app key's account (ka00001) is not the configured account",
            )
        self._verified = True

    # ------------------------------------------------------------------ misc

    def _now(self) -> datetime:
        return self._clock.now().astimezone(KST)


def _check_request(request: OrderRequest) -> tuple[str, str] | None:
    """What QTS refuses before calling Kiwoom (the simulator's codes and texts)."""
    if request.qty <= 0:
        return "INVALID_QTY", f"qty must be a positive whole number, got {request.qty}"
    price = request.limit_price
    if request.order_type is OrderType.LIMIT and (price is None or price <= 0):
        return "INVALID_PRICE", f"a LIMIT order needs a positive limit price, got {price}"
    if request.order_type is OrderType.MARKET and price is not None:
        return "INVALID_PRICE", f"a MARKET order takes no limit price, got {price}"
    return None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


__all__ = ["KiwoomBroker"]
