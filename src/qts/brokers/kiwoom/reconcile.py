"""How reads of the account are matched with the order map, and what the poller remembers.

Kiwoom tells nothing by itself: the broker reads the inquiries (:mod:`inquiry`) and this compares
each read with the order map (:mod:`store`) and with what earlier polls found — the fills already
reported, the fees already paid out, the fills waiting for their fees, the orders missing from the
open list, the orders believed open — to make fills and order updates. It also finds what became
of an order or change call that went unanswered, and writes the records' changes. Apart from the
broker so that these rules and the state they keep are read in one place; the broker's poll lock
(``lock``) guards both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from qts.brokers.base import BrokerEvent, OrderUpdate
from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.config import KiwoomConfig
from qts.brokers.kiwoom.errors import KiwoomError
from qts.brokers.kiwoom.fills import fill_id, fill_key, make_fills, venue_order
from qts.brokers.kiwoom.inquiry import Venue, read_exec_rows, read_open_rows, read_order_rows
from qts.brokers.kiwoom.rest import KiwoomRestClient
from qts.brokers.kiwoom.store import OrderRecord, OrderStore, RecordState
from qts.model.enums import OrderStatus, OrderType
from qts.model.fill import Fill

log = logging.getLogger("qts.brokers.kiwoom.broker")  # the broker's messages, under its name

VANISH_POLLS = 2  # polls an order must be missing, unexplained, before it counts as expired


class Reconciler:
    """The poller's memory, and the rules that match the venue's reads with the order map.

    The poll calls it with ``lock`` held (re-entrant); the methods the order path calls too
    (:meth:`placed`, :meth:`update`, :meth:`extend_chain`, :meth:`look_up_quietly`) take it.
    """

    def __init__(
        self,
        config: KiwoomConfig,
        store: OrderStore,
        rest: KiwoomRestClient,
        lock: threading.RLock,
        sleep: Callable[[float], None],
    ) -> None:
        self.config = config
        self.store = store
        self.rest = rest
        self._lock = lock
        self._sleep = sleep
        self.fills: dict[str, Fill] = {}  # fill id -> the Fill as first reported
        self.fees: dict[str, tuple[int, int]] = {}  # ord_no -> (commission, tax) reported
        self.deferred: dict[str, int] = {}  # ord_no -> polls its new fills waited for fees
        self.vanished: dict[str, int] = {}  # client order id -> polls missing, unexplained
        self.open: set[str] = set()  # client order ids believed open
        self.in_flight: set[str] = set()  # client order ids whose order call has not returned

    def active(self) -> bool:
        return bool(self.open or self.deferred or any(r.in_doubt for r in self.store.all()))

    def placed(self, rec: OrderRecord, ord_no: str) -> None:
        with self._lock:
            self.store.put(replace(rec, state=RecordState.PLACED, ord_nos=(ord_no,)))
            self.open.add(rec.client_order_id)

    def coid_of(self, day: str, ord_no: str) -> str:
        rec = self.store.by_ord_no(day, ord_no)
        return rec.client_order_id if rec is not None else f"KW-{day}-{ord_no}"

    def update(self, client_order_id: str, **changes: Any) -> OrderRecord:
        """Change a stored record, re-read under the poll lock (the poller writes too)."""
        with self._lock:
            rec = self.store.get(client_order_id)
            if rec is None:
                raise KeyError(client_order_id)
            rec = replace(rec, **changes)
            self.store.put(rec)
            return rec

    def extend_chain(self, client_order_id: str, ord_no: str) -> None:
        """A modify gave the order a new number: append it (once) to the order's chain."""
        with self._lock:
            rec = self.store.get(client_order_id)
            if rec is not None and ord_no not in rec.ord_nos:
                self.store.put(replace(rec, ord_nos=(*rec.ord_nos, ord_no)))

    # ------------------------------------------------------------------ fills

    def new_fills(self, venue: Venue, now: datetime) -> list[BrokerEvent]:
        day = venue.day
        by_ord: dict[str, list[m.FillRow]] = {}
        for f in venue.fills:
            by_ord.setdefault(f.ord_no, []).append(f)
        fresh = {
            o: rows
            for o, rows in by_ord.items()
            if any(fill_id(day, r) not in self.fills for r in rows)
        }
        if not fresh:
            self.deferred.clear()
            return []
        execs = read_exec_rows(self.rest)
        out: list[Fill] = []
        for ord_no, rows in fresh.items():
            coid = self.coid_of(day, ord_no)
            if coid.startswith("KW-") and self.unanswered(day, rows[0]):
                # an order of ours whose answer is on its way (or still to be found): its
                # fills can be read before the answer names the number; wait for the name
                continue
            rows.sort(key=fill_key)
            new = [r for r in rows if fill_id(day, r) not in self.fills]
            total = sum(r.qty for r in rows)
            ex = execs.get(ord_no)
            settled = ex is not None and ex.filled_qty == total
            if not settled:
                waited = self.deferred.get(ord_no, 0) + 1
                if waited <= self.config.fee_settle_polls:
                    self.deferred[ord_no] = waited
                    continue
            self.deferred.pop(ord_no, None)
            commission, tax = (ex.commission, ex.tax) if ex is not None else (0, 0)
            if ex is not None and not settled and ex.filled_qty > 0:
                # fees of fills we cannot see yet are in the totals: take our share only
                commission = commission * min(total, ex.filled_qty) // ex.filled_qty
                tax = tax * min(total, ex.filled_qty) // ex.filled_qty
            paid_c, paid_t = self.fees.get(ord_no, (0, 0))
            fees = (max(0, commission - paid_c), max(0, tax - paid_t))
            made = make_fills(day, coid, new, fees)
            self.fees[ord_no] = (paid_c + fees[0], paid_t + fees[1])
            for fill in made:
                self.fills[fill.fill_id] = fill
            if coid.startswith("KW-"):
                log.warning("kiwoom: %d fill(s) of order %s not placed by QTS", len(made), ord_no)
                continue
            out.extend(made)
        out.sort(key=venue_order)
        return list(out)

    def unanswered(self, day: str, row: m.FillRow) -> bool:
        """An order of ``day`` with ``row``'s symbol and side was sent and its number is not
        known yet (no answer so far, or none and not found by inquiry yet)."""
        return any(
            r.in_doubt and r.day == day and (r.symbol, r.side) == (row.symbol, row.side)
            for r in self.store.all()
        )

    # ------------------------------------------------------------------ statuses

    def statuses(self, venue: Venue, now: datetime) -> list[BrokerEvent]:
        out: list[BrokerEvent] = []
        for coid in sorted(self.open):
            rec = self.store.get(coid)
            if rec is None or rec.state is not RecordState.PLACED or rec.final:
                self.open.discard(coid)
                continue
            if rec.day != venue.day:
                status, reason = OrderStatus.EXPIRED, "day order of an earlier day"
            else:
                found = self.status(rec, venue)
                if found is None:
                    continue
                status, reason = found
            filled = venue.filled(rec.ord_nos) if rec.day == venue.day else rec.filled
            self.store.put(replace(rec, final=status.value, filled=filled))
            self.open.discard(coid)
            self.vanished.pop(coid, None)
            if status is not OrderStatus.FILLED:
                out.append(OrderUpdate(coid, status, now, reason))
        return out

    def status(self, rec: OrderRecord, venue: Venue) -> tuple[OrderStatus, str] | None:
        """The order's terminal status if the venue shows one; None while it is open."""
        coid = rec.client_order_id
        if rec.current in venue.open:
            self.vanished.pop(coid, None)
            return None
        if any(no in self.deferred for no in rec.ord_nos):
            return None  # its last fills wait for their fees: the status comes after them
        filled = venue.filled(rec.ord_nos)
        if filled >= rec.qty:
            return OrderStatus.FILLED, ""
        if venue.refused(rec.current):
            return OrderStatus.REJECTED, "refused by the exchange"
        remaining = rec.qty - filled
        if rec.cancel_requested or venue.cancelled(rec.current) >= remaining:
            return OrderStatus.CANCELED, "canceled"
        seen = self.vanished.get(coid, 0) + 1
        if seen < VANISH_POLLS:
            self.vanished[coid] = seen
            return None
        return OrderStatus.EXPIRED, "no longer open at Kiwoom (day order ended)"

    # ------------------------------------------------------------------ the order map

    def link(self, venue: Venue) -> None:
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

    def adopt(self, rows: list[m.OrderRow], day: str) -> dict[str, str]:
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
                    self.placed(rec, row.ord_no)
                    found[rec.client_order_id] = row.ord_no
                    log.warning(
                        "kiwoom: order %s found at Kiwoom as %s after an unanswered call",
                        rec.client_order_id,
                        row.ord_no,
                    )
                    break
        return found

    def expire_unconfirmed(self, now: datetime) -> list[BrokerEvent]:
        out: list[BrokerEvent] = []
        grace = timedelta(seconds=self.config.unconfirmed_grace_s)
        for rec in self.store.all():
            if not rec.in_doubt or now - rec.created_at < grace:
                continue
            if rec.client_order_id in self.in_flight:
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

    # ------------------------------------------------------------------ unanswered calls

    def look_up_quietly(self, rec: OrderRecord) -> str:
        try:
            rows = read_order_rows(self.rest, rec.day)
        except KiwoomError as exc:
            log.warning("kiwoom: looking up order %s failed: %s", rec.client_order_id, exc)
            return ""
        with self._lock:
            return self.adopt(rows, rec.day).get(rec.client_order_id, "")

    def change_found(self, rec: OrderRecord, api_id: str, body: dict[str, str]) -> bool:
        """Did an unanswered cancel/modify reach Kiwoom? (A modify found is linked.)"""
        kind = m.RowKind.MODIFY if api_id == m.MODIFY else m.RowKind.CANCEL
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                self._sleep(self.config.lookup_delay_s)
            try:
                rows = read_order_rows(self.rest, rec.day)
            except KiwoomError:
                continue
            for row in rows:
                if row.kind is kind and row.orig_ord_no == rec.current:
                    if kind is m.RowKind.MODIFY:
                        self.extend_chain(rec.client_order_id, row.ord_no)
                    return True
            if kind is m.RowKind.CANCEL and body.get("cncl_qty") == "0":
                try:
                    if rec.current not in read_open_rows(self.rest):
                        return True
                except KiwoomError:
                    continue
        return False


def _same_order(rec: OrderRecord, row: m.OrderRow) -> bool:
    if (row.symbol, row.side, row.qty, row.order_type) != (
        rec.symbol, rec.side, rec.qty, rec.order_type
    ):  # fmt: skip
        return False
    return rec.order_type is OrderType.MARKET or row.price == rec.limit_price
