"""The order map: client order id ↔ Kiwoom order numbers, written ahead of every order call.

Kiwoom knows nothing of QTS's client order ids: an order is a 7-digit ``ord_no``, and a modify
gives the order a new number (``orig_ord_no`` points back). So before an order is sent the
adapter records the intent (``PENDING``), and after the answer the number (``PLACED``) or the
refusal (``REJECTED``). An answer that never came leaves ``UNCONFIRMED`` until an inquiry finds
the order or the grace period runs out. Each record keeps the chain of numbers its order has
had; the last one is live.

Two stores: :class:`MemoryOrderStore` (a process's lifetime) and :class:`SqliteOrderStore`
(durable: a restarted adapter knows its orders again).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from qts.core.errors import StorageError
from qts.core.time import from_iso, to_utc_iso
from qts.model.enums import OrderSide, OrderType


class RecordState(StrEnum):
    PENDING = "PENDING"  # written before the order call; no answer yet
    PLACED = "PLACED"  # Kiwoom gave it a number
    UNCONFIRMED = "UNCONFIRMED"  # no definite answer and not (yet) found by inquiry
    REJECTED = "REJECTED"  # refused, or never seen within the grace period


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    qty: int  # the order's total qty as last agreed with Kiwoom (replace updates it)
    limit_price: int | None
    day: str  # YYYYMMDD (KST) the order was sent on: Kiwoom numbers restart every day
    created_at: datetime
    state: RecordState = RecordState.PENDING
    ord_nos: tuple[str, ...] = ()  # original number first, then one per modify
    code: str = ""
    reason: str = ""
    cancel_requested: bool = False
    final: str = ""  # terminal OrderStatus once known (FILLED, CANCELED, EXPIRED, REJECTED)
    filled: int = 0  # filled qty when it became final
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> str:
        return self.ord_nos[-1] if self.ord_nos else ""

    @property
    def in_doubt(self) -> bool:
        return self.state in (RecordState.PENDING, RecordState.UNCONFIRMED)


class OrderStore(Protocol):
    def get(self, client_order_id: str) -> OrderRecord | None: ...

    def put(self, record: OrderRecord) -> None: ...

    def by_ord_no(self, day: str, ord_no: str) -> OrderRecord | None: ...

    def all(self) -> list[OrderRecord]: ...

    def close(self) -> None: ...


class MemoryOrderStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, OrderRecord] = {}
        self._numbers: dict[tuple[str, str], str] = {}

    def get(self, client_order_id: str) -> OrderRecord | None:
        with self._lock:
            return self._records.get(client_order_id)

    def put(self, record: OrderRecord) -> None:
        with self._lock:
            self._records[record.client_order_id] = record
            for no in record.ord_nos:
                self._numbers[(record.day, no)] = record.client_order_id

    def by_ord_no(self, day: str, ord_no: str) -> OrderRecord | None:
        with self._lock:
            coid = self._numbers.get((day, ord_no))
            return self._records.get(coid) if coid is not None else None

    def all(self) -> list[OrderRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.created_at)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kiwoom_orders (
    client_order_id TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kiwoom_numbers (
    day TEXT NOT NULL,
    ord_no TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    PRIMARY KEY (day, ord_no)
);
"""


class SqliteOrderStore(MemoryOrderStore):
    """The memory store, written through to SQLite before ``put`` returns (WAL, FULL sync)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            rows = self._db.execute("SELECT record FROM kiwoom_orders").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"kiwoom order store {self.path}: {exc}") from exc
        for (text,) in rows:
            MemoryOrderStore.put(self, _decode(text))

    def put(self, record: OrderRecord) -> None:
        with self._lock:
            try:
                with self._db:
                    self._db.execute(
                        "INSERT OR REPLACE INTO kiwoom_orders VALUES (?, ?, ?, ?)",
                        (
                            record.client_order_id,
                            record.day,
                            to_utc_iso(record.created_at),
                            _encode(record),
                        ),
                    )
                    self._db.executemany(
                        "INSERT OR REPLACE INTO kiwoom_numbers VALUES (?, ?, ?)",
                        [(record.day, no, record.client_order_id) for no in record.ord_nos],
                    )
            except sqlite3.Error as exc:
                raise StorageError(f"kiwoom order store {self.path}: {exc}") from exc
        super().put(record)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _encode(r: OrderRecord) -> str:
    return json.dumps(
        {
            "client_order_id": r.client_order_id,
            "symbol": r.symbol,
            "side": r.side.value,
            "order_type": r.order_type.value,
            "qty": r.qty,
            "limit_price": r.limit_price,
            "day": r.day,
            "created_at": r.created_at.isoformat(),
            "state": r.state.value,
            "ord_nos": list(r.ord_nos),
            "code": r.code,
            "reason": r.reason,
            "cancel_requested": r.cancel_requested,
            "final": r.final,
            "filled": r.filled,
            "extra": r.extra,
        },
        ensure_ascii=False,
    )


def _decode(text: str) -> OrderRecord:
    d = json.loads(text)
    return OrderRecord(
        client_order_id=d["client_order_id"],
        symbol=d["symbol"],
        side=OrderSide(d["side"]),
        order_type=OrderType(d["order_type"]),
        qty=int(d["qty"]),
        limit_price=d["limit_price"],
        day=d["day"],
        created_at=from_iso(d["created_at"]),
        state=RecordState(d["state"]),
        ord_nos=tuple(d["ord_nos"]),
        code=d["code"],
        reason=d["reason"],
        cancel_requested=bool(d["cancel_requested"]),
        final=str(d.get("final", "")),
        filled=int(d.get("filled", 0)),
        extra=dict(d.get("extra", {})),
    )
