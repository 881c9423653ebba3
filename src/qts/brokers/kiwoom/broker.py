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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

import httpx

from qts.brokers.base import Ack, Balance, BrokerEvent, OrderRequest, OrderUpdate, VenueOrder
from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.config import KiwoomConfig
from qts.brokers.kiwoom.errors import (
    KiwoomApiError,
    KiwoomError,
    KiwoomProtocolError,
    KiwoomTransportError,
    reject_code,
)
from qts.brokers.kiwoom.rest import KiwoomRestClient
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

UNCONFIRMED = "UNCONFIRMED"
UNKNOWN_ORDER = "UNKNOWN_ORDER"
VANISH_POLLS = 2  # polls an order must be missing, unexplained, before it counts as expired


@dataclass(slots=True)
class _Venue:
    """One consistent read of the account: open orders, order rows, executions."""

    day: str
    open: dict[str, m.OpenRow]
    rows: list[m.OrderRow]
    fills: list[m.FillRow]

    def filled(self, ord_nos: Iterable[str]) -> int:
        chain = set(ord_nos)
        return sum(f.qty for f in self.fills if f.ord_no in chain)

    def cancelled(self, ord_no: str) -> int:
        return sum(
            r.confirmed_qty or r.qty
            for r in self.rows
            if r.kind is m.RowKind.CANCEL and r.orig_ord_no == ord_no
        )

    def refused(self, ord_no: str) -> bool:
        return any(r.refused and r.ord_no == ord_no for r in self.rows)


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
        self._poll_lock = threading.RLock()  # also guards _open and record updates
        self._events_lock = threading.Lock()
        self._events: list[BrokerEvent] = []
        self._fills: dict[str, Fill] = {}  # fill id -> the Fill as first reported
        self._fees: dict[str, tuple[int, int]] = {}  # ord_no -> (commission, tax) reported
        self._deferred: dict[str, int] = {}  # ord_no -> polls its new fills waited for fees
        self._vanished: dict[str, int] = {}  # client order id -> polls missing, unexplained
        self._open: set[str] = set()  # client order ids believed open
        self._in_flight: set[str] = set()  # client order ids whose order call has not returned
        self._cond = threading.Condition()
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
                self._open.add(rec.client_order_id)
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
                day=_day(now),
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
            self._in_flight.add(coid)
            try:
                return self._send(rec, request)
            finally:
                self._in_flight.discard(coid)

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
        self._placed(rec, ord_no)
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
            self._update(client_order_id, cancel_requested=True)
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
                open_rows = self._open_rows()
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
                rec = self._update(client_order_id, qty=qty)
            if not market and price != row.price:
                body = m.modify_body(self.config.exchange, rec.current, rec.symbol, new_open, price)
                outcome = self._change(rec, m.MODIFY, body)
                if outcome is not None:
                    return outcome
                rec = self._update(client_order_id, qty=qty, limit_price=price)
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
        if rec is not None and rec.day != _day(self._now()):
            return self._from_record(rec, None)
        return self._snapshot().get(client_order_id)

    def fills(self) -> list[Fill]:
        """Today's executions (Kiwoom's inquiries cover the current day)."""
        venue_fills = self._fill_rows()
        execs = self._exec_rows()
        day = _day(self._now())
        out: list[Fill] = []
        by_ord: dict[str, list[m.FillRow]] = {}
        for f in venue_fills:
            by_ord.setdefault(f.ord_no, []).append(f)
        for ord_no, rows in by_ord.items():
            rows.sort(key=_fill_key)
            coid = self._coid_of(day, ord_no)
            known = [self._fills.get(_fill_id(day, r)) for r in rows]
            if all(f is not None for f in known):
                out.extend(f for f in known if f is not None)
                continue
            ex = execs.get(ord_no)
            fees = (ex.commission, ex.tax) if ex is not None else (0, 0)
            out.extend(self._make_fills(day, coid, rows, fees))
        out.sort(key=_venue_order)
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

    def _active(self) -> bool:
        return bool(self._open or self._deferred or any(r.in_doubt for r in self.store.all()))

    def _poll(self, *, emit: bool, force: bool = False) -> list[BrokerEvent]:
        if not force and not self._active():
            return []
        now = self._now()
        venue = self._read_venue(now)
        self._link(venue)
        self._adopt(venue.rows, venue.day)
        events: list[BrokerEvent] = self._new_fills(venue, now)
        events.extend(self._statuses(venue, now))
        events.extend(self._expire_unconfirmed(now))
        if emit and events:
            with self._events_lock:
                self._events.extend(events)
        return events if emit else []

    def _read_venue(self, now: datetime) -> _Venue:
        open_rows = self._open_rows()
        rows = self._order_rows()
        fills = self._fill_rows()
        return _Venue(_day(now), open_rows, rows, fills)

    def _new_fills(self, venue: _Venue, now: datetime) -> list[BrokerEvent]:
        day = venue.day
        by_ord: dict[str, list[m.FillRow]] = {}
        for f in venue.fills:
            by_ord.setdefault(f.ord_no, []).append(f)
        fresh = {
            o: rows
            for o, rows in by_ord.items()
            if any(_fill_id(day, r) not in self._fills for r in rows)
        }
        if not fresh:
            self._deferred.clear()
            return []
        execs = self._exec_rows()
        out: list[Fill] = []
        for ord_no, rows in fresh.items():
            coid = self._coid_of(day, ord_no)
            if coid.startswith("KW-") and self._unanswered(day, rows[0]):
                # an order of ours whose answer is on its way (or still to be found): its
                # fills can be read before the answer names the number; wait for the name
                continue
            rows.sort(key=_fill_key)
            new = [r for r in rows if _fill_id(day, r) not in self._fills]
            total = sum(r.qty for r in rows)
            ex = execs.get(ord_no)
            settled = ex is not None and ex.filled_qty == total
            if not settled:
                waited = self._deferred.get(ord_no, 0) + 1
                if waited <= self.config.fee_settle_polls:
                    self._deferred[ord_no] = waited
                    continue
            self._deferred.pop(ord_no, None)
            commission, tax = (ex.commission, ex.tax) if ex is not None else (0, 0)
            if ex is not None and not settled and ex.filled_qty > 0:
                # fees of fills we cannot see yet are in the totals: take our share only
                commission = commission * min(total, ex.filled_qty) // ex.filled_qty
                tax = tax * min(total, ex.filled_qty) // ex.filled_qty
            paid_c, paid_t = self._fees.get(ord_no, (0, 0))
            fees = (max(0, commission - paid_c), max(0, tax - paid_t))
            made = self._make_fills(day, coid, new, fees)
            self._fees[ord_no] = (paid_c + fees[0], paid_t + fees[1])
            for fill in made:
                self._fills[fill.fill_id] = fill
            if coid.startswith("KW-"):
                log.warning("kiwoom: %d fill(s) of order %s not placed by QTS", len(made), ord_no)
                continue
            out.extend(made)
        out.sort(key=_venue_order)
        return list(out)

    def _unanswered(self, day: str, row: m.FillRow) -> bool:
        """An order of ``day`` with ``row``'s symbol and side was sent and its number is not
        known yet (no answer so far, or none and not found by inquiry yet)."""
        return any(
            r.in_doubt and r.day == day and (r.symbol, r.side) == (row.symbol, row.side)
            for r in self.store.all()
        )

    def _make_fills(
        self, day: str, coid: str, rows: list[m.FillRow], fees: tuple[int, int]
    ) -> list[Fill]:
        """Fills for ``rows`` of one order, sharing ``fees`` by amount (remainder to the last)."""
        total = sum(r.qty * r.price for r in rows) or 1
        left_c, left_t = fees
        out: list[Fill] = []
        trade_day = _date(day)
        for i, r in enumerate(rows):
            last = i == len(rows) - 1
            c = left_c if last else fees[0] * r.qty * r.price // total
            t = left_t if last else fees[1] * r.qty * r.price // total
            left_c -= c
            left_t -= t
            if r.qty <= 0 or r.price <= 0:
                log.warning(
                    "kiwoom: execution %s of %s has no qty/price; skipped", r.cntr_no, r.ord_no
                )
                continue
            ts = datetime.combine(trade_day, r.at, tzinfo=KST)
            out.append(Fill(_fill_id(day, r), coid, r.symbol, r.side, r.qty, r.price, ts, c, t))
        return out

    def _statuses(self, venue: _Venue, now: datetime) -> list[BrokerEvent]:
        out: list[BrokerEvent] = []
        for coid in sorted(self._open):
            rec = self.store.get(coid)
            if rec is None or rec.state is not RecordState.PLACED or rec.final:
                self._open.discard(coid)
                continue
            if rec.day != venue.day:
                status, reason = OrderStatus.EXPIRED, "day order of an earlier day"
            else:
                found = self._status(rec, venue)
                if found is None:
                    continue
                status, reason = found
            filled = venue.filled(rec.ord_nos) if rec.day == venue.day else rec.filled
            self.store.put(replace(rec, final=status.value, filled=filled))
            self._open.discard(coid)
            self._vanished.pop(coid, None)
            if status is not OrderStatus.FILLED:
                out.append(OrderUpdate(coid, status, now, reason))
        return out

    def _status(self, rec: OrderRecord, venue: _Venue) -> tuple[OrderStatus, str] | None:
        """The order's terminal status if the venue shows one; None while it is open."""
        coid = rec.client_order_id
        if rec.current in venue.open:
            self._vanished.pop(coid, None)
            return None
        if any(no in self._deferred for no in rec.ord_nos):
            return None  # its last fills wait for their fees: the status comes after them
        filled = venue.filled(rec.ord_nos)
        if filled >= rec.qty:
            return OrderStatus.FILLED, ""
        if venue.refused(rec.current):
            return OrderStatus.REJECTED, "refused by the exchange"
        remaining = rec.qty - filled
        if rec.cancel_requested or venue.cancelled(rec.current) >= remaining:
            return OrderStatus.CANCELED, "canceled"
        seen = self._vanished.get(coid, 0) + 1
        if seen < VANISH_POLLS:
            self._vanished[coid] = seen
            return None
        return OrderStatus.EXPIRED, "no longer open at Kiwoom (day order ended)"

    def _link(self, venue: _Venue) -> None:
        """Give modify rows the client order id of the order they modified."""
        for row in sorted(venue.rows, key=lambda r: r.ord_no):
            if row.kind is not m.RowKind.MODIFY or not row.orig_ord_no:
                continue
            if self.store.by_ord_no(venue.day, row.ord_no) is not None:
                continue
            rec = self.store.by_ord_no(venue.day, row.orig_ord_no)
            if rec is None or rec.current != row.orig_ord_no:
                continue
            self.store.put(
                replace(
                    rec,
                    ord_nos=(*rec.ord_nos, row.ord_no),
                    limit_price=row.price or rec.limit_price,
                )
            )
            log.info("kiwoom: order %s modified: now %s", rec.client_order_id, row.ord_no)

    def _adopt(self, rows: list[m.OrderRow], day: str) -> dict[str, str]:
        """Match orders in doubt to unclaimed new-order rows; returns client id -> ord_no."""
        doubt = [r for r in self.store.all() if r.in_doubt and r.day == day]
        if not doubt:
            return {}
        free = sorted(
            (
                r
                for r in rows
                if r.kind is m.RowKind.NEW and self.store.by_ord_no(day, r.ord_no) is None
            ),
            key=lambda r: r.ord_no,
        )
        found: dict[str, str] = {}
        for rec in doubt:
            for row in free:
                if _same_order(rec, row):
                    free.remove(row)
                    self._placed(rec, row.ord_no)
                    found[rec.client_order_id] = row.ord_no
                    log.warning(
                        "kiwoom: order %s found at Kiwoom as %s after an unanswered call",
                        rec.client_order_id,
                        row.ord_no,
                    )
                    break
        return found

    def _expire_unconfirmed(self, now: datetime) -> list[BrokerEvent]:
        out: list[BrokerEvent] = []
        grace = timedelta(seconds=self.config.unconfirmed_grace_s)
        for rec in self.store.all():
            if not rec.in_doubt or now - rec.created_at < grace:
                continue
            if rec.client_order_id in self._in_flight:
                continue  # its call has not ended: the grace is for calls without an answer
            reason = (
                f"FS042: no answer to the order call and not found at Kiwoom within "
                f"{self.config.unconfirmed_grace_s:g}s"
            )
            self.store.put(
                replace(
                    rec,
                    state=RecordState.REJECTED,
                    code="FS042",
                    reason=reason,
                    final=OrderStatus.REJECTED.value,
                )
            )
            out.append(OrderUpdate(rec.client_order_id, OrderStatus.REJECTED, now, reason))
        return out

    # ------------------------------------------------------------------ snapshot

    def _snapshot(self) -> dict[str, VenueOrder]:
        now = self._now()
        with self._poll_lock:
            venue = self._read_venue(now)
            self._link(venue)
            self._adopt(venue.rows, venue.day)
        out: dict[str, VenueOrder] = {}
        claimed: set[str] = set()
        for rec in self.store.all():
            if rec.day == venue.day:
                claimed.update(rec.ord_nos)
            out[rec.client_order_id] = self._from_record(rec, venue)
        # orders QTS did not place (HTS, another program): named after their first number
        chains: dict[str, list[str]] = {}
        for row in sorted(venue.rows, key=lambda r: r.ord_no):
            if row.ord_no in claimed or row.kind is m.RowKind.CANCEL:
                continue
            head = next((h for h, ch in chains.items() if row.orig_ord_no in ch), None)
            if row.kind is m.RowKind.MODIFY and head is not None:
                chains[head].append(row.ord_no)
            elif row.kind is m.RowKind.NEW:
                chains[row.ord_no] = [row.ord_no]
        rows_by_no = {r.ord_no: r for r in venue.rows}
        for head, chain in chains.items():
            first, cur = rows_by_no[head], rows_by_no[chain[-1]]
            filled = venue.filled(chain)
            open_row = venue.open.get(cur.ord_no)
            if open_row is not None:
                qty = filled + open_row.open_qty
                status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
            else:
                qty = max(first.qty, filled)
                status = OrderStatus.FILLED if filled >= qty else OrderStatus.CANCELED
                if status is OrderStatus.CANCELED and not venue.cancelled(cur.ord_no):
                    status = OrderStatus.EXPIRED
            coid = f"KW-{venue.day}-{head}"
            out[coid] = VenueOrder(
                coid,
                cur.ord_no,
                first.symbol,
                first.side,
                first.order_type,
                qty,
                None if first.order_type is OrderType.MARKET else cur.price,
                status,
                filled,
            )
        return out

    def _from_record(self, rec: OrderRecord, venue: _Venue | None) -> VenueOrder:
        price = rec.limit_price
        if rec.state is RecordState.REJECTED:
            reason = f"{rec.code}: {rec.reason}" if rec.code else rec.reason
            return VenueOrder(
                rec.client_order_id, rec.current, rec.symbol, rec.side, rec.order_type,
                rec.qty, price, OrderStatus.REJECTED, 0, reason,
            )  # fmt: skip
        if rec.in_doubt:
            return VenueOrder(
                rec.client_order_id, "", rec.symbol, rec.side, rec.order_type, rec.qty, price,
                OrderStatus.SUBMITTED, 0, f"{UNCONFIRMED}: not yet confirmed by Kiwoom",
            )  # fmt: skip
        if venue is None or rec.day != venue.day:
            status = OrderStatus(rec.final) if rec.final else OrderStatus.EXPIRED
            return VenueOrder(
                rec.client_order_id, rec.current, rec.symbol, rec.side, rec.order_type,
                rec.qty, price, status, rec.filled,
            )  # fmt: skip
        filled = venue.filled(rec.ord_nos)
        open_row = venue.open.get(rec.current)
        qty = rec.qty
        if open_row is not None:
            qty = filled + open_row.open_qty
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
            if rec.order_type is OrderType.LIMIT and open_row.price:
                price = open_row.price
        elif rec.final:
            status = OrderStatus(rec.final)
        elif filled >= rec.qty:
            status = OrderStatus.FILLED
        elif rec.client_order_id in self._open:  # missing just now: the poller decides
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
        else:
            status = OrderStatus.CANCELED if rec.cancel_requested else OrderStatus.EXPIRED
        return VenueOrder(
            rec.client_order_id, rec.current, rec.symbol, rec.side, rec.order_type, qty,
            price, status, filled,
        )  # fmt: skip

    # ------------------------------------------------------------------ order helpers

    def _answer_again(self, rec: OrderRecord) -> Ack:
        """A known client order id: the first answer again, never a second order."""
        coid = rec.client_order_id
        if rec.in_doubt:
            self._look_up_quietly(rec)
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

    def _placed(self, rec: OrderRecord, ord_no: str) -> None:
        with self._poll_lock:
            self.store.put(replace(rec, state=RecordState.PLACED, ord_nos=(ord_no,)))
            self._open.add(rec.client_order_id)

    def _update(self, client_order_id: str, **changes: Any) -> OrderRecord:
        """Change a stored record, re-read under the poll lock (the poller writes too)."""
        with self._poll_lock:
            rec = self.store.get(client_order_id)
            if rec is None:
                raise KeyError(client_order_id)
            rec = replace(rec, **changes)
            self.store.put(rec)
            return rec

    def _extend_chain(self, client_order_id: str, ord_no: str) -> None:
        """A modify gave the order a new number: append it (once) to the order's chain."""
        with self._poll_lock:
            rec = self.store.get(client_order_id)
            if rec is not None and ord_no not in rec.ord_nos:
                self.store.put(replace(rec, ord_nos=(*rec.ord_nos, ord_no)))

    def _look_up(self, rec: OrderRecord, why: str) -> Ack:
        """After an order call without a definite answer: find the order, never resend it."""
        coid = rec.client_order_id
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                self._sleep(self.config.lookup_delay_s)
            ord_no = self._look_up_quietly(rec)
            if ord_no:
                return Ack(coid, True, ord_no)
        with self._poll_lock:
            now_rec = self.store.get(coid) or rec
            if now_rec.state is RecordState.PLACED:  # the poller found it meanwhile
                return Ack(coid, True, now_rec.current)
            self._update(coid, state=RecordState.UNCONFIRMED, reason=why)
        log.error(
            "kiwoom: order %s: no answer and not found by inquiry; it will not be resent "
            "(FS042 after %gs unless found)",
            coid,
            self.config.unconfirmed_grace_s,
        )
        return Ack(coid, True, None, f"{why}; not found by inquiry yet", UNCONFIRMED)

    def _look_up_quietly(self, rec: OrderRecord) -> str:
        try:
            rows = self._order_rows()
        except KiwoomError as exc:
            log.warning("kiwoom: looking up order %s failed: %s", rec.client_order_id, exc)
            return ""
        with self._poll_lock:
            return self._adopt(rows, rec.day).get(rec.client_order_id, "")

    def _live(self, client_order_id: str) -> tuple[OrderRecord | None, Ack | None]:
        """The record of an order that can still be changed, or the refusal to send."""
        rec = self.store.get(client_order_id)
        if rec is None:
            reason = f"no order {client_order_id!r} at this venue"
            return None, Ack(client_order_id, False, None, reason, UNKNOWN_ORDER)
        if rec.in_doubt:
            self._look_up_quietly(rec)
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
            if self._change_found(rec, api_id, body):
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
                if self._change_found(rec, api_id, body):
                    return None
                return Ack(
                    coid, False, rec.current, "modify answer without order number", UNCONFIRMED
                )
            self._extend_chain(coid, new_no)
        return None

    def _change_found(self, rec: OrderRecord, api_id: str, body: dict[str, str]) -> bool:
        """Did an unanswered cancel/modify reach Kiwoom? (A modify found is linked.)"""
        kind = m.RowKind.MODIFY if api_id == m.MODIFY else m.RowKind.CANCEL
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                self._sleep(self.config.lookup_delay_s)
            try:
                rows = self._order_rows()
            except KiwoomError:
                continue
            for row in rows:
                if row.kind is kind and row.orig_ord_no == rec.current:
                    if kind is m.RowKind.MODIFY:
                        self._extend_chain(rec.client_order_id, row.ord_no)
                    return True
            if kind is m.RowKind.CANCEL and body.get("cncl_qty") == "0":
                try:
                    if rec.current not in self._open_rows():
                        return True
                except KiwoomError:
                    continue
        return False

    # ------------------------------------------------------------------ inquiries

    def _open_rows(self) -> dict[str, m.OpenRow]:
        _, rows = self.rest.call_all(m.ACCOUNT_PATH, m.OPEN_ORDERS, m.OPEN_ORDERS_QUERY, "oso")
        return {r.ord_no: r for r in _parse(rows, m.open_row, m.OPEN_ORDERS) if r.open_qty > 0}

    def _order_rows(self) -> list[m.OrderRow]:
        _, rows = self.rest.call_all(
            m.ACCOUNT_PATH,
            m.ORDERS_FILLS,
            m.orders_query(fills_only=False),
            "acnt_ord_cntr_prst_array",
        )
        return _parse(rows, m.order_row, m.ORDERS_FILLS)

    def _fill_rows(self) -> list[m.FillRow]:
        _, rows = self.rest.call_all(
            m.ACCOUNT_PATH,
            m.ORDERS_FILLS,
            m.orders_query(fills_only=True),
            "acnt_ord_cntr_prst_array",
        )
        return [f for f in _parse(rows, m.fill_row, m.ORDERS_FILLS) if f.qty > 0]

    def _exec_rows(self) -> dict[str, m.ExecRow]:
        _, rows = self.rest.call_all(m.ACCOUNT_PATH, m.EXECUTIONS, m.EXECUTIONS_QUERY, "cntr")
        return {r.ord_no: r for r in _parse(rows, m.exec_row, m.EXECUTIONS)}

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

    def _coid_of(self, day: str, ord_no: str) -> str:
        rec = self.store.by_ord_no(day, ord_no)
        return rec.client_order_id if rec is not None else f"KW-{day}-{ord_no}"

    def _now(self) -> datetime:
        return self._clock.now().astimezone(KST)


def _parse(
    rows: list[dict[str, Any]], parse: Callable[[dict[str, Any]], Any], api: str
) -> list[Any]:
    out = []
    for row in rows:
        try:
            out.append(parse(row))
        except InputError as exc:
            raise KiwoomProtocolError(f"kiwoom {api}: {exc}", api_id=api) from exc
    return out


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


def _same_order(rec: OrderRecord, row: m.OrderRow) -> bool:
    if (row.symbol, row.side, row.qty, row.order_type) != (
        rec.symbol, rec.side, rec.qty, rec.order_type
    ):  # fmt: skip
        return False
    return rec.order_type is OrderType.MARKET or row.price == rec.limit_price


def _fill_key(r: m.FillRow) -> tuple[str, str]:
    return (r.cntr_no.zfill(12), r.at.isoformat())


def _venue_order(f: Fill) -> tuple[datetime, str]:
    """Fills in the order the venue executed them: time, then execution number."""
    return f.ts, f.fill_id.rsplit("-", 1)[-1].zfill(12)


def _fill_id(day: str, r: m.FillRow) -> str:
    return f"KW{day}-{r.ord_no}-{r.cntr_no}"


def _day(ts: datetime) -> str:
    return m.ymd(ts.astimezone(KST).date())


def _date(day: str) -> date:
    return date(int(day[:4]), int(day[4:6]), int(day[6:]))


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


__all__ = ["KiwoomBroker"]
