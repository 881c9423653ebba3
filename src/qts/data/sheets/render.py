"""Each sheet's rows rendered from the store's mirror: the QTS records and the views.

A file of its own because rendering is a pure function of the mirror (what a sheet should hold),
apart from the store's opening, flushing and port methods, which decide when to render and what
to send; the row encodings themselves are in :mod:`qts.data.sheets.rows` and
:mod:`qts.data.sheets.views`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from qts.data.memory import MemoryStore
from qts.data.sheets import cells
from qts.data.sheets.model import (
    HISTORY,
    POSITION,
    QTS_ACCOUNT,
    QTS_DECISIONS,
    QTS_EQUITY,
    QTS_FILLS,
    QTS_LEDGER,
    QTS_ORDERS,
    QTS_POSITIONS,
    QTS_RUN,
    QTS_SAFETY,
    QTS_SCHEMA,
    QTS_STATE,
    T_LEDGER,
    Registry,
)
from qts.data.sheets.rows import (
    Rows,
    decision_row,
    equity_row,
    fill_row,
    ledger_row,
    order_row,
    position_row,
    run_row,
    safety_row,
)
from qts.data.sheets.views import history_view, ledger_view, position_view


def render(
    mem: MemoryStore, name: str, state_keys: Iterable[str], registry: Registry, tz: tzinfo
) -> Rows:
    """The rows sheet ``name`` should hold from its ``row_start`` on, from the mirror ``mem``."""
    if name == QTS_RUN.name:
        meta = mem.run_meta()
        return [] if meta is None else [run_row(meta)]
    if name == QTS_ORDERS.name:
        return [order_row(o) for o in mem.load_orders()]
    if name == QTS_FILLS.name:
        return [fill_row(f) for f in mem.load_fills()]
    if name == QTS_LEDGER.name:
        return [ledger_row(e) for e in mem.load_ledger()]
    if name == QTS_POSITIONS.name:
        return [position_row(p) for p in mem.load_positions().values()]
    if name == QTS_ACCOUNT.name:
        account = mem.load_account()
        if account is None:
            return []
        return [
            ["cash", "", str(account.cash)],
            *(["pending", d.isoformat(), str(v)] for d, v in account.pending.items()),
        ]
    if name == QTS_DECISIONS.name:
        return [decision_row(d) for d in mem.load_decisions()]
    if name == QTS_EQUITY.name:
        return [equity_row(p) for p in mem.load_equity()]
    if name == QTS_SAFETY.name:
        return [safety_row(e) for e in mem.load_safety_events()]
    if name == QTS_STATE.name:
        rows = []
        for key in sorted(state_keys):
            doc = mem.load_state(key)
            if doc is not None:
                rows.append([key, cells.json_text(doc)])
        return rows
    if name == QTS_SCHEMA.name:
        return [
            ["schema_version", registry.version],
            ["schema_hash", registry.content_hash()],
        ]
    if name == POSITION.name:
        markets = {e.symbol: e.market for e in mem.load_ledger()}
        return [position_view(p, markets.get(p.symbol, "")) for p in mem.load_positions().values()]
    if name == T_LEDGER.name:
        return [ledger_view(e, tz) for e in mem.load_ledger()]
    if name == HISTORY.name:
        meta = mem.run_meta()
        return history_view(mem.load_equity(), meta.initial_cash if meta else None, tz)
    raise KeyError(name)
