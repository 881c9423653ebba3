"""How KIS's reads and notices become fills and order statuses: the account of fills.

Two sources tell what happened to an order — the fill notices of the WebSocket and the
``inquire-daily-ccld`` rows — and this matches both with the order map (:mod:`orderstore`):
a row or notice is linked to its client order (an intent without an answer, a revision, a
cancel, or an order placed elsewhere, adopted), a fill is booked once under an id both sources
compute, and a cancel, a refusal or a session's end closes the order after its fills. Notices
of an order number not mapped yet wait here (parked) until a link claims them. Apart from the
broker so that these rules and the state they keep are read in one place; the broker's lock
(``lock``) guards both, and the broker decides where the events go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime

from qts.brokers.base import BrokerEvent, OrderUpdate
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.mapping import (
    CcldRow,
    FillNotice,
    at_kst,
    ccld_row,
    daily_ccld_params,
    kis_date,
    order_type_of,
)
from qts.brokers.kis.orderstore import OdnoLink, OrderRecord, OrderStore
from qts.brokers.kis.redact import logger
from qts.brokers.kis.rest import KisRestClient
from qts.core.clock import Clock
from qts.core.time import KST
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import FeeModel
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill
from qts.model.instrument import Instrument

log = logger("qts.brokers.kis.broker")  # the broker's messages, under its name

_MATCH_SKEW = timedelta(seconds=90)  # KIS's ORD_TMD vs our clock when matching an intent
_MAX_PARKED = 2_000


class Reconciler:
    """The order map's account of fills, kept from KIS's inquiry rows and fill notices.

    Its callers hold ``lock`` (re-entrant), except for :meth:`refresh` and :meth:`check_expiry`,
    which take it. Fills go to ``emit``; terminal order updates to ``report`` (the broker holds
    them back while a resync may still book fills before them).
    """

    def __init__(
        self,
        config: KisConfig,
        store: OrderStore,
        rest: KisRestClient,
        *,
        clock: Clock,
        fees: FeeModel,
        instruments: Mapping[str, Instrument],
        calendar: KrxCalendar,
        lock: threading.RLock,
        emit: Callable[[BrokerEvent], None],
        report: Callable[[OrderUpdate], None],
    ) -> None:
        self.config = config
        self.store = store
        self.rest = rest
        self.clock = clock
        self.fees = fees
        self.instruments = instruments  # the broker's dict: symbols it learns later count too
        self.calendar = calendar
        self._lock = lock
        self._emit = emit
        self._report = report
        self._parked: dict[tuple[date, str], list[FillNotice]] = {}
        self._last_refresh = float("-inf")

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        """The trading date (KST) by the clock: the day of inquiries and of new order numbers."""
        return self.clock.now().astimezone(KST).date()

    # ------------------------------------------------------------------ inquiry

    def refresh(self, *, force: bool, day: date | None = None) -> None:
        if not force and time.monotonic() - self._last_refresh < self.config.inquiry_cache_s:
            return
        d = day or self.today()
        raw, _ = self.rest.get_pages(ep.DAILY_CCLD, daily_ccld_params(self.config, d))
        rows = [ccld_row(r) for r in raw]
        with self._lock:
            self.apply_rows(rows)
            self._last_refresh = time.monotonic()

    def apply_rows(self, rows: list[CcldRow]) -> None:
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
                    self.drop_parked_fills(link)
                    continue
            match = next((p for p in pending if _matches(p, row)), None)
            if match is not None:
                pending.remove(match)
                match.ord_dt, match.odno, match.first_odno = row.ord_dt, row.odno, row.odno
                match.orgno = row.orgno
                match.status = OrderStatus.SUBMITTED
                match.updated_at = self.now()
                link = OdnoLink(row.ord_dt, row.odno, match.client_order_id, "order")
                store.save(match, (link,))
                self.drop_parked_fills(link)
                continue
            if any(_resembles(p, row) for p in pending):
                continue  # may still be claimed by an intent of ours; decide next time
            self.adopt_foreign(row)
        for row in rows:
            known = store.link(*row.key)
            if known is None or row.cancel:
                continue
            if row.tot_ccld_qty > known.cum_qty:
                qty = row.tot_ccld_qty - known.cum_qty
                amount = row.tot_ccld_amt - known.cum_amount
                price = round(amount / qty) if amount > 0 else row.ord_unpr
                ts = at_kst(row.ord_dt, row.infm_tmd or row.ord_tmd)
                self.book_fill(known, qty, price, ts)
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
                self.finish(rec, OrderStatus.REJECTED, "rejected by KRX")
            elif live.cnc_cfrm_qty > 0 or any(x.kind == "cancel" for x in chain):
                for x in chain:
                    if x.kind == "cancel" and not x.confirmed:
                        x.confirmed = True
                        store.save(links=(x,))
                self.finish(rec, OrderStatus.CANCELED, "canceled")

    def adopt_foreign(self, row: CcldRow) -> None:
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
        self.drop_parked_fills(link)
        log.warning("ODNO %s: an order this adapter did not send; tracked as %s", row.odno, coid)

    # ------------------------------------------------------------------ booking

    def book_fill(self, link: OdnoLink, qty: int, price: int, ts: datetime) -> None:
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

    def finish(self, rec: OrderRecord, status: OrderStatus, reason: str) -> None:
        if rec.status.is_terminal:
            return
        rec.status = status
        rec.reason = reason
        rec.updated_at = self.now()
        self.store.save(rec)
        if rec.foreign:
            return
        update = OrderUpdate(rec.client_order_id, status, rec.updated_at, reason)
        self._report(update)

    # ------------------------------------------------------------------ fill notices

    def apply_notice(self, n: FillNotice, day: date) -> None:
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
                self.finish(rec, OrderStatus.REJECTED, "refused by KRX")
            else:
                log.warning("KIS refused a %s of %s", link.kind, rec.client_order_id)
            return
        if n.is_fill:
            self.book_fill(link, n.qty, n.price, at_kst(day, n.hour))
            return
        if n.is_cancel and link.kind == "cancel" and not link.confirmed:
            link.confirmed = True
            self.store.save(links=(link,))
            if link.all_qty:  # a partial cancel only lowered the quantity
                self.finish(rec, OrderStatus.CANCELED, "canceled")

    def replay_parked(self, link: OdnoLink) -> None:
        for n in self._parked.pop((link.ord_dt, link.odno), []):
            self.apply_notice(n, link.ord_dt)

    def drop_parked_fills(self, link: OdnoLink) -> None:
        """A link made from an inquiry row: its totals already hold the parked fills."""
        parked = self._parked.pop((link.ord_dt, link.odno), [])
        for n in parked:
            if not n.is_fill:
                self.apply_notice(n, link.ord_dt)

    # ------------------------------------------------------------------ day orders' end

    def check_expiry(self) -> None:
        """Day orders die at their session's close; report it once inquiry has the last fills."""
        now = self.now()
        with self._lock:
            due = [
                r
                for r in self.store.orders.values()
                if r.status.is_open and not r.foreign and self.past_session(r, now)
            ]
        if not due:
            return
        self.refresh(force=True, day=min(r.ord_dt for r in due if r.ord_dt))
        with self._lock:
            for rec in due:
                if rec.status.is_open and rec.ord_dt is not None:
                    self.finish(rec, OrderStatus.EXPIRED, "session end")

    def past_session(self, rec: OrderRecord, now: datetime) -> bool:
        if rec.ord_dt is None:
            return False
        return now >= self.close_of(rec.ord_dt) + timedelta(seconds=self.config.expiry_grace_s)

    def close_of(self, day: date) -> datetime:
        try:
            return self.calendar.session(day).close
        except ValueError:
            return datetime.combine(day, dtime(15, 30), tzinfo=KST)


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
