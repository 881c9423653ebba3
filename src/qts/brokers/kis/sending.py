"""The order POSTs — new orders, revisions, cancels — and what their answers make of the map.

KIS has no client order id, so an order POST that ends without a definite answer (a timeout, a
5xx) cannot be asked about by name: it is looked up by inquiry (the reconciler matches it with
a row) before it is ever sent again, and a second unknown outcome raises
:class:`OrderOutcomeUnknown`. A revise or cancel is an order of its own with a new number that
points back to the one it changes: an accepted one is linked into the order's chain, a refused
one mostly means the order has ended at KIS, so it is looked up at once. Apart from the broker
so that each answer's handling reads in one place; the broker serialises the POSTs (its order
lock) and validates and builds what they send.
"""

from __future__ import annotations

import threading
import time

from qts.brokers.base import Ack, OrderRequest
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisConfig
from qts.brokers.kis.errors import MARKET_CLOSED, KisError, OrderOutcomeUnknown, ProtocolError
from qts.brokers.kis.mapping import order_cash_body
from qts.brokers.kis.orderstore import OdnoLink, OrderRecord, OrderStore
from qts.brokers.kis.reconcile import Reconciler
from qts.brokers.kis.redact import logger
from qts.brokers.kis.rest import AmbiguousOrder, KisResponse, KisRestClient
from qts.core.time import KST
from qts.model.enums import OrderSide, OrderStatus

log = logger("qts.brokers.kis.broker")  # the broker's messages, under its name

REFUSAL_LOOKUP_S = 5.0
"""At most one lookup after refused changes per this many seconds (see ``refused_change``)."""


class OrderSender:
    """The broker's order, revise and cancel POSTs; ``lock`` is the broker's lock over the
    order map, ``recon`` the reconciler that looks an unanswered POST up."""

    def __init__(
        self,
        config: KisConfig,
        store: OrderStore,
        rest: KisRestClient,
        recon: Reconciler,
        lock: threading.RLock,
    ) -> None:
        self.config = config
        self.store = store
        self.rest = rest
        self._recon = recon
        self._lock = lock
        self._refusal_lookup_at = -REFUSAL_LOOKUP_S

    def send_new(self, rec: OrderRecord) -> Ack:
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
                if self.lookup(rec):
                    return ack(rec)
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
                self.reject(rec, res.msg_cd, res.msg1)
                return ack(rec)
            self.accept(rec, res)
            return ack(rec)
        raise AssertionError("unreachable")  # pragma: no cover

    def accept(self, rec: OrderRecord, res: KisResponse) -> None:
        out = res.output("order-cash")
        odno, orgno = (
            str(out.get("ODNO", "")).strip(),
            str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip(),
        )
        if not odno:
            raise ProtocolError("KIS order-cash: no ODNO in the answer")
        day = self._recon.today()
        with self._lock:
            rec.ord_dt, rec.odno, rec.first_odno, rec.orgno = day, odno, odno, orgno
            rec.status = OrderStatus.SUBMITTED
            rec.updated_at = self._recon.now()
            link = OdnoLink(day, odno, rec.client_order_id, "order")
            self.store.save(rec, (link,))
            self._recon.replay_parked(link)
        log.info(
            "order %s accepted: %s %s x%d (ODNO %s)",
            rec.client_order_id,
            rec.side.value,
            rec.symbol,
            rec.qty,
            odno,
        )

    def reject(self, rec: OrderRecord, code: str, reason: str) -> None:
        with self._lock:
            rec.status = OrderStatus.REJECTED
            rec.code, rec.reason = code, reason
            rec.updated_at = self._recon.now()
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

    def post_change(self, rec: OrderRecord, body: dict[str, str], kind: str) -> KisResponse | Ack:
        """POST a revise/cancel: the answer, a refusal as an ``Ack``, or an accepted ``Ack`` when
        an unanswered POST was found done by inquiry (already linked then). A cancel or revise
        is safe to resend (KIS refuses one for an order no longer open), but an unknown outcome
        is still looked up first."""
        known = {x.odno for x in self.store.chain(rec.client_order_id)}
        for attempt in range(2):
            try:
                res = self.rest.post_order(ep.REVISE_CANCEL, body)
            except AmbiguousOrder:
                self._recon.refresh(force=True)
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
                return self.refused_change(rec, exc.msg1 or str(exc), exc.msg_cd)
            if not res.ok:
                return self.refused_change(rec, res.msg1, res.msg_cd)
            return res
        raise AssertionError("unreachable")  # pragma: no cover

    def refused_change(self, rec: OrderRecord, reason: str, code: str) -> Ack:
        """KIS refused a revise/cancel. Mostly the order is no longer open there (filled or
        expired while the notice was on its way): look it up at once, so its fills and its end
        reach the books now rather than at the next notice or poll. Not for a closed market
        (the order's state is not why), and one lookup answers for the whole day's orders, so
        a burst of refusals (the close's cancels) costs one inquiry per ``REFUSAL_LOOKUP_S``."""
        now = time.monotonic()
        if code != MARKET_CLOSED and now - self._refusal_lookup_at >= REFUSAL_LOOKUP_S:
            self._refusal_lookup_at = now
            try:
                self._recon.refresh(force=True, day=rec.ord_dt)
            except KisError as exc:
                log.warning(
                    "lookup after a refused change of %s failed: %s", rec.client_order_id, exc
                )
        return Ack(rec.client_order_id, False, rec.odno, reason, code)

    def link_change(
        self, rec: OrderRecord, res: KisResponse, kind: str, *, qty: int = 0, all_qty: bool = False
    ) -> None:
        out = res.output("order-rvsecncl")
        odno = str(out.get("ODNO", "")).strip()
        if not odno:
            raise ProtocolError("KIS order-rvsecncl: no ODNO in the answer")
        day = rec.ord_dt or self._recon.today()
        with self._lock:
            link = self.store.link(day, odno) or OdnoLink(
                day, odno, rec.client_order_id, kind, qty=qty, all_qty=all_qty
            )
            if kind == "revise":
                rec.odno = odno
                orgno = str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip()
                rec.orgno = orgno or rec.orgno
            rec.updated_at = self._recon.now()
            self.store.save(rec, (link,))
            self._recon.replay_parked(link)

    def lookup(self, rec: OrderRecord) -> bool:
        """Find an order whose POST had no definite answer; True once it is mapped."""
        for attempt in range(self.config.lookup_attempts):
            if attempt:
                time.sleep(self.config.lookup_delay_s)
            try:
                self._recon.refresh(force=True, day=rec.sent_at.astimezone(KST).date())
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


def ack(rec: OrderRecord, duplicate: bool = False) -> Ack:
    """The answer to a submit: a refusal before KIS numbered it, else accepted."""
    if rec.status is OrderStatus.REJECTED and not rec.odno:
        return Ack(rec.client_order_id, False, None, rec.reason, rec.code, duplicate)
    return Ack(rec.client_order_id, True, rec.odno, duplicate=duplicate)
