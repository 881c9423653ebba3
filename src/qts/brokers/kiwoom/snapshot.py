"""The account's orders as ``VenueOrder`` values, from the order map and a read of the venue.

This is what ``open_orders`` and ``order`` answer with: the records QTS wrote (before a
restart too), each judged against the venue's read of its day, and the orders QTS did not place
(HTS, another program), named after the first number of their chain. A view only: it writes
nothing, the poller alone decides when an order has ended.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from qts.brokers.base import VenueOrder
from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import UNCONFIRMED
from qts.brokers.kiwoom.inquiry import Venue
from qts.brokers.kiwoom.store import OrderRecord, RecordState
from qts.model.enums import OrderStatus, OrderType


def venue_orders(
    records: Iterable[OrderRecord], venue: Venue, believed_open: Container[str]
) -> dict[str, VenueOrder]:
    """Every order of the map and of the venue's day, by client order id."""
    out: dict[str, VenueOrder] = {}
    claimed: set[str] = set()
    for rec in records:
        if rec.day == venue.day:
            claimed.update(rec.ord_nos)
        out[rec.client_order_id] = from_record(rec, venue, believed_open)
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


def from_record(rec: OrderRecord, venue: Venue | None, believed_open: Container[str]) -> VenueOrder:
    """One order of the map as the venue shows it (``venue`` None: a day not read, so the
    record alone); ``believed_open`` holds the client order ids the poller has not closed."""
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
    elif rec.client_order_id in believed_open:  # missing just now: the poller decides
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
    else:
        status = OrderStatus.CANCELED if rec.cancel_requested else OrderStatus.EXPIRED
    return VenueOrder(
        rec.client_order_id, rec.current, rec.symbol, rec.side, rec.order_type, qty,
        price, status, filled,
    )  # fmt: skip
