"""The Broker port: what the execution layer needs from any venue.

Every call is keyed by the client order id, which the caller persists *before* calling ``submit``;
a venue that sees the same id twice answers with the first order instead of opening a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    limit_price: int | None = None


# A sell refused because the venue holds fewer sellable shares than asked (``Ack.code``): the
# books and the broker disagree (shares sold outside QTS) or the shares are tied up, and
# sending the same order again will not change the answer. The simulator's and Kiwoom's mapped
# code, and KIS's own (APBK9002 주문가능수량을 초과 했습니다, ``qts.brokers.kis.errors``).
HOLDINGS_REFUSALS = frozenset({"INSUFFICIENT_HOLDINGS", "APBK9002"})


@dataclass(frozen=True, slots=True)
class Ack:
    """The venue's immediate answer to submit/cancel/replace."""

    client_order_id: str
    accepted: bool
    venue_order_id: str | None = None
    reason: str = ""
    code: str = ""
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of one order, for reconciliation."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int
    limit_price: int | None
    status: OrderStatus
    filled_qty: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A change the venue reports after the ack: canceled, expired, rejected later."""

    client_order_id: str
    status: OrderStatus
    ts: datetime
    reason: str = ""


BrokerEvent = Fill | OrderUpdate


@dataclass(frozen=True, slots=True)
class Balance:
    cash: int
    holdings: dict[str, int]


class Broker(Protocol):
    name: str

    def submit(self, request: OrderRequest) -> Ack: ...

    def cancel(self, client_order_id: str) -> Ack: ...

    def replace(self, client_order_id: str, qty: int, limit_price: int | None) -> Ack: ...

    def drain_events(self) -> list[BrokerEvent]:
        """Fills and order updates since the last call, in venue order."""
        ...

    def open_orders(self) -> list[VenueOrder]: ...

    def order(self, client_order_id: str) -> VenueOrder | None: ...

    def fills(self) -> list[Fill]:
        """Every fill of the account, for reconciliation."""
        ...

    def balance(self) -> Balance: ...
