"""Durability of the simulated venue: a SQLite file that survives a crash of the process.

A real broker keeps its orders and fills when the client dies; so does the simulator. Every call
that changes the venue writes its changes in one transaction before it returns (WAL,
``synchronous=NORMAL``: a committed call survives a killed process; an operating-system crash may
lose the last calls, as documented in docs/simulator.md). Reopening the file restores orders,
fills, the account, id sequences, the last processed frame and the base prices.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qts.brokers.sim.account import SimAccount
from qts.brokers.sim.exchange import SimExchange
from qts.brokers.sim.records import Changes, ExchangeState, SimOrder
from qts.core.errors import StorageError
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    venue_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    qty INTEGER NOT NULL,
    limit_price INTEGER,
    submitted_at TEXT NOT NULL,
    eligible_at TEXT NOT NULL,
    activate_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    filled_qty INTEGER NOT NULL,
    active INTEGER NOT NULL,
    hold_price INTEGER NOT NULL,
    hold_cash INTEGER NOT NULL,
    hold_qty INTEGER NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fill_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price INTEGER NOT NULL,
    ts TEXT NOT NULL,
    commission INTEGER NOT NULL,
    tax INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS holdings (symbol TEXT PRIMARY KEY, qty INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS market (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""

_ORDER_COLUMNS = (
    "client_order_id", "venue_order_id", "symbol", "side", "order_type", "qty", "limit_price",
    "submitted_at", "eligible_at", "activate_at", "expires_at", "day", "seq", "status",
    "filled_qty", "active", "hold_price", "hold_cash", "hold_qty", "code", "reason", "updated_at",
)  # fmt: skip
_UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ORDER_COLUMNS)}) "
    "ON CONFLICT(client_order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ORDER_COLUMNS[1:])
)


class SimJournal:
    """The SQLite file of one simulated venue account."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"sim journal {self.path}: cannot open: {exc}") from exc
        version = self._meta("schema")
        if version is not None and int(version) != SCHEMA_VERSION:
            raise StorageError(
                f"sim journal {self.path}: schema version {version}, this code reads "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def is_empty(self) -> bool:
        return self._meta("schema") is None

    # ------------------------------------------------------------------ writing

    def initialize(self, exchange: SimExchange, account: SimAccount) -> None:
        """Write the starting state of a new venue account."""
        holdings = set(account.holdings)
        self._write(Changes(holdings=holdings, market=True), exchange, account, first=True)

    def write(self, changes: Changes, exchange: SimExchange, account: SimAccount) -> None:
        """Persist one call's changes atomically."""
        self._write(changes, exchange, account, first=False)

    def _write(
        self, changes: Changes, exchange: SimExchange, account: SimAccount, first: bool
    ) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if first:
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                    db.execute(
                        "INSERT INTO meta VALUES ('initial_cash', ?)", (str(account.initial_cash),)
                    )
                if changes.orders:
                    db.executemany(_UPSERT_ORDER, [_order_row(o) for o in changes.orders.values()])
                if changes.fills:
                    db.executemany(
                        "INSERT INTO fills (fill_id, client_order_id, symbol, side, qty, price, "
                        "ts, commission, tax) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [_fill_row(f) for f in changes.fills],
                    )
                for symbol in changes.holdings:
                    qty = account.holdings.get(symbol, 0)
                    if qty:
                        db.execute(
                            "INSERT INTO holdings VALUES (?, ?) "
                            "ON CONFLICT(symbol) DO UPDATE SET qty = excluded.qty",
                            (symbol, qty),
                        )
                    else:
                        db.execute("DELETE FROM holdings WHERE symbol = ?", (symbol,))
                state = {"cash": account.cash, "counters": exchange.counters()}
                db.execute(
                    "INSERT INTO meta VALUES ('state', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (json.dumps(state),),
                )
                if changes.market:
                    base, last_close = exchange.market_arrays()
                    rows = [
                        ("state", json.dumps(exchange.market_state()).encode()),
                        ("base", base.astype("<i8").tobytes()),
                        ("last_close", last_close.astype("<i8").tobytes()),
                    ]
                    db.executemany(
                        "INSERT INTO market VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        rows,
                    )
                db.execute("COMMIT")
            except BaseException:
                # a failed COMMIT (disk full) may already have rolled back: do not let the
                # ROLLBACK's own error hide the cause
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"sim journal {self.path}: write failed: {exc}") from exc

    # ------------------------------------------------------------------ reading

    def load(self) -> ExchangeState | None:
        """The stored state, or None for a new file."""
        if self.is_empty:
            return None
        try:
            return self._load()
        except (sqlite3.Error, KeyError, ValueError) as exc:
            raise StorageError(f"sim journal {self.path}: cannot read: {exc}") from exc

    def _load(self) -> ExchangeState:
        db = self._db
        initial_cash = int(self._meta("initial_cash") or 0)
        state = json.loads(self._meta("state") or "{}")
        cols = ", ".join(_ORDER_COLUMNS)
        orders = [
            _order_from_row(r) for r in db.execute(f"SELECT {cols} FROM orders ORDER BY rowid")
        ]
        fills = [
            _fill_from_row(r)
            for r in db.execute(
                "SELECT fill_id, client_order_id, symbol, side, qty, price, ts, commission, tax "
                "FROM fills ORDER BY seq"
            )
        ]
        holdings = {str(s): int(q) for s, q in db.execute("SELECT symbol, qty FROM holdings")}
        market = {str(k): bytes(v) for k, v in db.execute("SELECT key, value FROM market")}
        m: dict[str, Any] = json.loads(market["state"]) if "state" in market else {}
        universe = tuple(m["universe"]) if m.get("universe") is not None else None
        base = last_close = None
        if universe is not None:
            base = np.frombuffer(market["base"], dtype="<i8").astype(np.int64)
            last_close = np.frombuffer(market["last_close"], dtype="<i8").astype(np.int64)
            if len(base) != len(universe) or len(last_close) != len(universe):
                raise ValueError("market arrays do not match the stored universe")
        return ExchangeState(
            orders=orders,
            fills=fills,
            cash=int(state.get("cash", initial_cash)),
            initial_cash=initial_cash,
            holdings=holdings,
            counters={k: int(v) for k, v in state.get("counters", {}).items()}
            or {"venue": 0, "fill": 0, "arrival": 0},
            last_start=_dt(m.get("last_start")),
            day=date.fromisoformat(m["day"]) if m.get("day") else None,
            universe=universe,
            base=base,
            last_close=last_close,
            pre_close={str(k): int(v) for k, v in m.get("pre_close", {}).items()},
            pre_base={str(k): int(v) for k, v in m.get("pre_base", {}).items()},
        )


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _order_row(o: SimOrder) -> tuple[object, ...]:
    return (
        o.client_order_id,
        o.venue_order_id,
        o.symbol,
        str(o.side),
        str(o.order_type),
        o.qty,
        o.limit_price,
        o.submitted_at.isoformat(),
        o.eligible_at.isoformat(),
        o.activate_at.isoformat(),
        o.expires_at.isoformat(),
        o.day.isoformat(),
        o.seq,
        str(o.status),
        o.filled_qty,
        int(o.active),
        o.hold_price,
        o.hold_cash,
        o.hold_qty,
        o.code,
        o.reason,
        o.updated_at.isoformat() if o.updated_at else None,
    )


def _order_from_row(r: tuple[Any, ...]) -> SimOrder:
    return SimOrder(
        client_order_id=r[0],
        venue_order_id=r[1],
        symbol=r[2],
        side=OrderSide(r[3]),
        order_type=OrderType(r[4]),
        qty=r[5],
        limit_price=r[6],
        submitted_at=datetime.fromisoformat(r[7]),
        eligible_at=datetime.fromisoformat(r[8]),
        activate_at=datetime.fromisoformat(r[9]),
        expires_at=datetime.fromisoformat(r[10]),
        day=date.fromisoformat(r[11]),
        seq=r[12],
        status=OrderStatus(r[13]),
        filled_qty=r[14],
        active=bool(r[15]),
        hold_price=r[16],
        hold_cash=r[17],
        hold_qty=r[18],
        code=r[19],
        reason=r[20],
        updated_at=_dt(r[21]),
    )


def _fill_row(f: Fill) -> tuple[object, ...]:
    return (
        f.fill_id,
        f.client_order_id,
        f.symbol,
        str(f.side),
        f.qty,
        f.price,
        f.ts.isoformat(),
        f.commission,
        f.tax,
    )


def _fill_from_row(r: tuple[Any, ...]) -> Fill:
    return Fill(
        fill_id=r[0],
        client_order_id=r[1],
        symbol=r[2],
        side=OrderSide(r[3]),
        qty=r[4],
        price=r[5],
        ts=datetime.fromisoformat(r[6]),
        commission=r[7],
        tax=r[8],
    )
