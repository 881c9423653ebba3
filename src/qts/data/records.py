"""Rules every storage adapter applies the same way, so they accept and refuse the same input."""

from __future__ import annotations

import json
from typing import Any

from qts.model.fill import Fill
from qts.model.ledger import LedgerEntry
from qts.model.order import Order
from qts.model.position import Position

# One encoder for every call: ``json.dumps`` with options builds a new one each time, about
# half the cost of encoding a small document (a cycle's commit encodes several). Encoding keeps
# no state on the encoder, so one instance serves every thread.
_STRICT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def strict_json(value: Any) -> str:
    """Strict JSON (no NaN), so the same document is valid in SQLite text and PostgreSQL jsonb."""
    if not value and isinstance(value, dict):
        return "{}"
    return _STRICT.encode(value)


def fill_mismatch(fill: Fill, entry: LedgerEntry, order: Order, position: Position) -> str:
    """Why the four records of one fill do not describe the same execution ('' if they do)."""
    if entry.fill_id != fill.fill_id:
        return f"ledger entry is for fill {entry.fill_id}"
    if order.client_order_id != fill.client_order_id:
        return f"order {order.client_order_id} is not the fill's order {fill.client_order_id}"
    if entry.client_order_id != fill.client_order_id:
        return f"ledger entry is for order {entry.client_order_id}"
    if fill.fill_id not in order.fill_ids:
        return f"order {order.client_order_id} has not applied this fill"
    if position.symbol != fill.symbol or entry.symbol != fill.symbol:
        return f"position {position.symbol} / ledger {entry.symbol} is not {fill.symbol}"
    return ""
