"""The capital flow's windows: a track's closed trades, a pool's daily index values.

They change at most a few times a day, so they are stored apart from the flow's per-cycle
memory document (:meth:`CapitalFlow.windows_json`), with a tail of the rows appended since
(:meth:`CapitalFlow.tail_json`); these functions put the stored pieces back together.
"""

from __future__ import annotations

import json
from typing import Any

from qts.engines.capital.promotion import ClosedTrade
from qts.engines.capital.rows import JsonRows


def _trade_row(c: ClosedTrade) -> list[Any]:
    return [c.day.isoformat(), c.pnl, c.holding_days]


# window sizes: a track's closed trades, a pool's daily index values
TRADES_WINDOW, HISTORY_WINDOW = 500, 95


def with_tail(windows: dict[str, Any], tail: dict[str, Any]) -> dict[str, Any]:
    """``windows`` (:meth:`CapitalFlow.windows_json`) with the rows appended since it was
    written (:meth:`CapitalFlow.tail_json`), each window cut to its size as the flow cuts it."""
    out: dict[str, Any] = {}
    for kind, size in (("trades", TRADES_WINDOW), ("history", HISTORY_WINDOW)):
        texts = dict(windows.get(kind, {}))
        for k, rows in tail.get(kind, {}).items():
            joined = json.loads(texts.get(k, "[]")) + rows
            texts[k] = JsonRows[Any](lambda r: r).text(joined[-size:])
        out[kind] = texts
    return out


def with_windows(memory: dict[str, Any], windows: dict[str, Any]) -> dict[str, Any]:
    """``memory`` (a :meth:`CapitalFlow.to_json` document) with the windows stored apart
    (:meth:`CapitalFlow.windows_json`: JSON texts)."""
    trades = {k: json.loads(v) for k, v in windows.get("trades", {}).items()}
    out = {**memory, "trades": trades or memory.get("trades", {})}
    book = memory.get("book")
    if book:
        history = {k: json.loads(v) for k, v in windows.get("history", {}).items()}
        out["book"] = {
            k: {**v, "history": history.get(k, v.get("history", []))} for k, v in book.items()
        }
    return out
