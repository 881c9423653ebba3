"""A client order of the order map as a ``VenueOrder``: what ``open_orders`` and ``order`` say.

A view only: it writes nothing (the reconciler alone decides when an order has ended). Apart from
the broker so that the one place where a record becomes the Broker port's answer is easy to find,
as in the other adapters.
"""

from __future__ import annotations

from qts.brokers.base import VenueOrder
from qts.brokers.kis.orderstore import OrderRecord


def from_record(rec: OrderRecord) -> VenueOrder:
    """The order as the map knows it; a refusal's reason carries KIS's code in front."""
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
