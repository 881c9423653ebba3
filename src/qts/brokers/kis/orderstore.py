"""The adapter's memory of which KIS order numbers belong to which client order.

KIS has no client order id: an order is known by (order date, ``ODNO``), a revision gets a new
``ODNO`` that points back through ``ORGN_ODNO``, and a cancel is a record of its own. The store
keeps, per client order, the intent as sent, the chain of KIS numbers, the fills booked from
notices or inquiry, and the venue status — in a small SQLite file (``KisConfig.state_path``) so
that a restarted adapter gives the same client ids and fill ids as before. Without a file it is
in memory, and a restart rebuilds what KIS's inquiry can tell (see docs/brokers.md).

Writes are write-through (one transaction per change); the broker serialises access.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qts.core.errors import StorageError
from qts.core.time import from_iso
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kis_orders (coid TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kis_odnos (
    ord_dt TEXT NOT NULL, odno TEXT NOT NULL, coid TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (ord_dt, odno));
CREATE TABLE IF NOT EXISTS kis_fills (fill_id TEXT PRIMARY KEY, coid TEXT NOT NULL,
    data TEXT NOT NULL);
"""


@dataclass(slots=True)
class OrderRecord:
    """One client order as the adapter knows it."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int  # the order's total quantity now (partial cancels lower it)
    limit_price: int | None
    sent_at: datetime
    ord_dt: date | None = None  # None: sent, no answer yet (a pending intent)
    orgno: str = ""
    odno: str = ""  # the live KIS order number (a revision replaces it)
    first_odno: str = ""
    status: OrderStatus = OrderStatus.NEW
    filled_qty: int = 0
    filled_amount: int = 0
    code: str = ""
    reason: str = ""
    updated_at: datetime | None = None
    foreign: bool = False  # found at KIS, never sent by this adapter

    @property
    def pending(self) -> bool:
        return self.status is OrderStatus.NEW

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    def to_json(self) -> str:
        d = asdict(self)
        d["side"] = self.side.value
        d["order_type"] = self.order_type.value
        d["status"] = self.status.value
        d["sent_at"] = self.sent_at.isoformat()
        d["ord_dt"] = self.ord_dt.isoformat() if self.ord_dt else None
        d["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> OrderRecord:
        d: dict[str, Any] = json.loads(text)
        d["side"] = OrderSide(d["side"])
        d["order_type"] = OrderType(d["order_type"])
        d["status"] = OrderStatus(d["status"])
        d["sent_at"] = from_iso(d["sent_at"])
        d["ord_dt"] = date.fromisoformat(d["ord_dt"]) if d["ord_dt"] else None
        d["updated_at"] = from_iso(d["updated_at"]) if d["updated_at"] else None
        return cls(**d)


@dataclass(slots=True)
class OdnoLink:
    """One KIS order number of a client order: the order, a revision or a cancel record."""

    ord_dt: date
    odno: str
    client_order_id: str
    kind: str  # "order" | "revise" | "cancel"
    qty: int = 0  # for a cancel record: the quantity it cancels
    all_qty: bool = False  # for a cancel record: it cancels everything that remained
    cum_qty: int = 0  # filled under this number, as booked
    cum_amount: int = 0
    confirmed: bool = False  # for a cancel record: KIS confirmed it (notice or inquiry)
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["ord_dt"] = self.ord_dt.isoformat()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> OdnoLink:
        d: dict[str, Any] = json.loads(text)
        d["ord_dt"] = date.fromisoformat(d["ord_dt"])
        return cls(**d)


def fill_to_json(f: Fill) -> str:
    return json.dumps(
        {
            "fill_id": f.fill_id,
            "client_order_id": f.client_order_id,
            "symbol": f.symbol,
            "side": f.side.value,
            "qty": f.qty,
            "price": f.price,
            "ts": f.ts.isoformat(),
            "commission": f.commission,
            "tax": f.tax,
        }
    )


def fill_from_json(text: str) -> Fill:
    d = json.loads(text)
    return Fill(
        d["fill_id"],
        d["client_order_id"],
        d["symbol"],
        OrderSide(d["side"]),
        int(d["qty"]),
        int(d["price"]),
        from_iso(d["ts"]),
        int(d["commission"]),
        int(d["tax"]),
    )


class OrderStore:
    """Client orders, their KIS numbers and their fills; SQLite-backed when given a path."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path) if path is not None else ":memory:", check_same_thread=False
            )
            self._db.executescript(_SCHEMA)
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StorageError(f"KIS order map {path}: cannot open ({exc})") from None
        self.orders: dict[str, OrderRecord] = {}
        self.links: dict[tuple[date, str], OdnoLink] = {}
        self.fills: dict[str, Fill] = {}
        self._load()

    def _load(self) -> None:
        for (text,) in self._db.execute("SELECT data FROM kis_orders"):
            rec = OrderRecord.from_json(text)
            self.orders[rec.client_order_id] = rec
        for (text,) in self._db.execute("SELECT data FROM kis_odnos"):
            link = OdnoLink.from_json(text)
            self.links[(link.ord_dt, link.odno)] = link
        for (text,) in self._db.execute("SELECT data FROM kis_fills ORDER BY rowid"):
            f = fill_from_json(text)
            self.fills[f.fill_id] = f

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ writes

    def save(
        self,
        order: OrderRecord | None = None,
        links: tuple[OdnoLink, ...] = (),
        fills: tuple[Fill, ...] = (),
    ) -> None:
        """Record an order, links and fills in one transaction (memory follows the file)."""
        try:
            with self._db:
                if order is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO kis_orders (coid, data) VALUES (?, ?)",
                        (order.client_order_id, order.to_json()),
                    )
                for link in links:
                    self._db.execute(
                        "INSERT OR REPLACE INTO kis_odnos (ord_dt, odno, coid, data) "
                        "VALUES (?, ?, ?, ?)",
                        (link.ord_dt.isoformat(), link.odno, link.client_order_id, link.to_json()),
                    )
                for f in fills:
                    self._db.execute(
                        "INSERT OR IGNORE INTO kis_fills (fill_id, coid, data) VALUES (?, ?, ?)",
                        (f.fill_id, f.client_order_id, fill_to_json(f)),
                    )
        except sqlite3.Error as exc:
            raise StorageError(f"KIS order map: write failed ({exc})") from None
        if order is not None:
            self.orders[order.client_order_id] = order
        for link in links:
            self.links[(link.ord_dt, link.odno)] = link
        for f in fills:
            self.fills.setdefault(f.fill_id, f)

    # ------------------------------------------------------------------ reads

    def link(self, ord_dt: date, odno: str) -> OdnoLink | None:
        return self.links.get((ord_dt, odno))

    def chain(self, client_order_id: str) -> list[OdnoLink]:
        return [x for x in self.links.values() if x.client_order_id == client_order_id]

    def pending(self) -> list[OrderRecord]:
        return [r for r in self.orders.values() if r.pending]
