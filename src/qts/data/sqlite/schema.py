"""The SQLite trading store's schema: its tables, indexes and triggers, as numbered migrations.

Apart from the store so the DDL reads as one document: the invariants the database enforces
(a fill is booked once, ledger seqs are consecutive, the ledger and the safety and capital
histories are append-only, an order id never names two orders) are all here.
"""

from __future__ import annotations

# The statuses of an order still working at the venue: load_orders(open_only=True) and the
# partial index that serves it must agree.
OPEN_STATUSES = "('NEW', 'SUBMITTED', 'PARTIALLY_FILLED')"

# Each migration is applied once, in order, in its own transaction; its number is recorded in
# schema_version. Never edit a released migration: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE run_meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            run_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            initial_cash INTEGER NOT NULL CHECK (initial_cash >= 0),
            seed INTEGER,
            started_at TEXT NOT NULL,
            config TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            order_type TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            limit_price INTEGER,
            created_at TEXT NOT NULL,
            strategy TEXT NOT NULL,
            track TEXT NOT NULL,
            status TEXT NOT NULL,
            filled_qty INTEGER NOT NULL CHECK (filled_qty BETWEEN 0 AND qty),
            filled_amount INTEGER NOT NULL CHECK (filled_amount >= 0),
            venue_order_id TEXT,
            reason TEXT NOT NULL,
            updated_at TEXT,
            fill_ids TEXT NOT NULL
        ) STRICT""",
        # load_orders(open_only=True) runs at every start and may run every cycle; without this
        # it scans every order the run ever made.
        f"""CREATE INDEX ix_orders_open ON orders (status)
            WHERE status IN {OPEN_STATUSES}""",
        """CREATE TRIGGER orders_identity BEFORE UPDATE ON orders
            WHEN NEW.symbol IS NOT OLD.symbol OR NEW.side IS NOT OLD.side
              OR NEW.order_type IS NOT OLD.order_type OR NEW.qty IS NOT OLD.qty
              OR NEW.limit_price IS NOT OLD.limit_price OR NEW.created_at IS NOT OLD.created_at
            BEGIN SELECT RAISE(ABORT, 'client order id already names a different order'); END""",
        """CREATE TABLE fills (
            fill_id TEXT PRIMARY KEY,
            client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            qty INTEGER NOT NULL CHECK (qty > 0),
            price INTEGER NOT NULL CHECK (price > 0),
            ts TEXT NOT NULL,
            commission INTEGER NOT NULL CHECK (commission >= 0),
            tax INTEGER NOT NULL CHECK (tax >= 0)
        ) STRICT""",
        """CREATE TABLE t_ledger (
            seq INTEGER PRIMARY KEY CHECK (seq > 0),
            ts TEXT NOT NULL,
            symbol TEXT NOT NULL,
            market TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            qty INTEGER NOT NULL CHECK (qty > 0),
            price INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            commission INTEGER NOT NULL,
            tax INTEGER NOT NULL,
            net_amount INTEGER NOT NULL,
            client_order_id TEXT NOT NULL,
            fill_id TEXT NOT NULL UNIQUE REFERENCES fills (fill_id),
            strategy TEXT NOT NULL,
            position_after INTEGER NOT NULL,
            pnl INTEGER NOT NULL,
            settle_date TEXT NOT NULL
        ) STRICT""",
        """CREATE TRIGGER t_ledger_seq BEFORE INSERT ON t_ledger
            WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM t_ledger)
            BEGIN SELECT RAISE(ABORT, 'ledger seq does not follow the last entry'); END""",
        """CREATE TRIGGER t_ledger_no_update BEFORE UPDATE ON t_ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
        """CREATE TRIGGER t_ledger_no_delete BEFORE DELETE ON t_ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
        """CREATE TABLE positions (
            symbol TEXT PRIMARY KEY,
            qty INTEGER NOT NULL CHECK (qty >= 0),
            cost_basis INTEGER NOT NULL,
            realized_pnl INTEGER NOT NULL,
            last_price INTEGER NOT NULL,
            opened_at TEXT,
            track TEXT NOT NULL,
            strategy TEXT NOT NULL,
            high_since_open INTEGER NOT NULL,
            low_since_open INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE account (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            cash INTEGER NOT NULL
        ) STRICT""",
        """CREATE TABLE account_pending (
            settle_date TEXT PRIMARY KEY,
            amount INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE decision_log (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            cycle_id TEXT NOT NULL,
            symbol TEXT NOT NULL,
            action TEXT NOT NULL,
            strategy TEXT NOT NULL,
            price INTEGER,
            qty INTEGER,
            approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
            reason TEXT NOT NULL,
            act_status TEXT NOT NULL,
            metadata TEXT NOT NULL
        ) STRICT""",
        # load_decisions(cycle_id) answers "what did cycle X decide" during recovery and audit.
        "CREATE INDEX ix_decision_log_cycle ON decision_log (cycle_id)",
        """CREATE TABLE equity_history (
            ts TEXT PRIMARY KEY,
            cash INTEGER NOT NULL,
            market_value INTEGER NOT NULL,
            equity INTEGER NOT NULL,
            realized INTEGER NOT NULL,
            unrealized INTEGER NOT NULL,
            fees INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID""",
    ),
    (
        """CREATE TABLE safety_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            state_before TEXT NOT NULL,
            state_after TEXT NOT NULL,
            operator TEXT NOT NULL
        ) STRICT""",
        # the history is append-only, like the ledger
        """CREATE TRIGGER safety_events_append_only_update BEFORE UPDATE ON safety_events
           BEGIN SELECT RAISE(ABORT, 'safety_events is append-only'); END""",
        """CREATE TRIGGER safety_events_append_only_delete BEFORE DELETE ON safety_events
           BEGIN SELECT RAISE(ABORT, 'safety_events is append-only'); END""",
    ),
    (
        # the capital journal: state transitions, pool transfers, locks, daily pool balances
        """CREATE TABLE capital_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX ix_capital_events_kind ON capital_events (kind, id)",
        """CREATE TRIGGER capital_events_append_only_update BEFORE UPDATE ON capital_events
           BEGIN SELECT RAISE(ABORT, 'capital_events is append-only'); END""",
        """CREATE TRIGGER capital_events_append_only_delete BEFORE DELETE ON capital_events
           BEGIN SELECT RAISE(ABORT, 'capital_events is append-only'); END""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
