"""The domain vocabulary: instruments, orders, fills, positions, accounts, the ledger. No I/O."""

from qts.model.account import Account
from qts.model.enums import OrderSide, OrderStatus, OrderType, Track
from qts.model.fill import Fill
from qts.model.instrument import Instrument, Market, SecurityType
from qts.model.ledger import Ledger, LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

__all__ = [
    "Account",
    "Fill",
    "Instrument",
    "Ledger",
    "LedgerEntry",
    "Market",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "SecurityType",
    "Track",
]
