"""What the operator sees: one plain-data view of a run, built from its store.

The dashboard, the report sheets and ``/metrics`` all read this view, so they can never disagree.
The books (positions, orders, fills, ledger-derived PnL, equity history, decisions, safety
history) come from the store, which every mode writes before it acts; a running process adds what
only it knows (the last prices, the live safety state, the event spine and micro loop figures)
through :class:`LiveOverlay`. Standalone (``qts dashboard --db``) the view is the store alone.

Money stays integer won; ratios are floats for display only. Nothing secret is in a store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from qts.data.capital_journal import CapitalReadout, read_capital
from qts.data.ports import DecisionRecord, EquityPoint, TradingStore
from qts.model.ledger import LedgerEntry
from qts.safety.state import SafetyState, SafetyStatus
from qts.safety.supervisor import REQUEST_KEY, STATE_KEY

MAX_CURVE_POINTS = 600
RECENT_ROWS = 50
DECISION_CYCLES = 120  # how far back (in cycles) the decisions list looks
POOL_ORDER = ("SCALP", "SWING", "PORTFOLIO")
RECENT_TRANSITIONS = 5


class LiveOverlay(Protocol):
    """What a running process adds to its store's view."""

    def last_prices(self) -> dict[str, int]: ...

    def live(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class ViewBuilder:
    """Builds the view of one store; ``overlay`` is the running engine, if any."""

    store: TradingStore
    overlay: LiveOverlay | None = None
    now: Callable[[], datetime] | None = None
    _decisions_cache: dict[str, list[DecisionRecord]] = field(default_factory=dict)

    def build(self) -> dict[str, Any]:
        store = self.store
        meta = store.run_meta()
        equity = store.load_equity()
        positions = store.load_positions()
        orders = store.load_orders()
        fills = store.load_fills()
        prices = self.overlay.last_prices() if self.overlay else {}
        initial = meta.initial_cash if meta else 0
        open_rows: list[dict[str, Any]] = []
        for p in sorted(positions.values(), key=lambda x: x.symbol):
            if p.qty == 0:
                continue
            last = prices.get(p.symbol) or p.last_price or (p.cost_basis // p.qty)
            value = p.qty * last
            open_rows.append(
                {
                    "symbol": p.symbol,
                    "qty": p.qty,
                    "avg_price": round(p.cost_basis / p.qty, 1),
                    "last": last,
                    "market_value": value,
                    "unrealized": value - p.cost_basis,
                    "realized": p.realized_pnl,
                    "strategy": p.strategy,
                    "opened_at": _iso(p.opened_at),
                }
            )
        realized = sum(p.realized_pnl for p in positions.values())
        last_point = equity[-1] if equity else None
        cash = self._cash(last_point, initial)
        market_value = sum(int(r["market_value"]) for r in open_rows)
        total = cash + market_value
        day_start = _day_start_equity(equity, initial)
        rejected = [o for o in orders if o.status.value == "REJECTED"]
        view: dict[str, Any] = {
            "run": {
                "run_id": meta.run_id if meta else "",
                "mode": meta.mode if meta else "",
                "started_at": _iso(meta.started_at) if meta else None,
                "initial_cash": initial,
                "as_of": _iso(last_point.ts) if last_point else None,
            },
            "account": {
                "cash": cash,
                "market_value": market_value,
                "equity": total,
                "day_pnl": total - day_start,
                "total_pnl": total - initial if initial else 0,
                "realized": realized,
                "unrealized": sum(r["unrealized"] for r in open_rows),
                "fees": last_point.fees if last_point else 0,
                "exposure_pct": round(market_value / total, 4) if total > 0 else 0.0,
                "positions": len(open_rows),
            },
            "positions": open_rows,
            "curve": _curve(equity),
            "orders": [_order_row(o) for o in orders[-RECENT_ROWS:]][::-1],
            "fills": [_fill_row(f) for f in fills[-RECENT_ROWS:]][::-1],
            "counts": {
                "orders": len(orders),
                "fills": len(fills),
                "rejections": len(rejected),
                "cycles": len(equity),
            },
            "decisions": self._decisions(equity),
            "strategies": _strategies(store.load_ledger()),
            "days": _days(equity, initial),
            "safety": self._safety(),
            "capital": _capital(read_capital(store, limit=RECENT_TRANSITIONS)),
            "live": self.overlay.live() if self.overlay else {},
        }
        return view

    def _cash(self, last: EquityPoint | None, initial: int) -> int:
        account = self.store.load_account()
        if account is not None:
            return account.cash
        return last.cash if last else initial

    def _decisions(self, equity: list[EquityPoint]) -> list[dict[str, Any]]:
        """The latest decisions that did something or were refused, newest first, with their
        reasons; HOLDs of the latest cycle only (every symbol holds most of the time)."""
        rows: list[dict[str, Any]] = []
        recent = equity[-DECISION_CYCLES:]
        keep = {p.ts.isoformat() for p in recent}
        self._decisions_cache = {k: v for k, v in self._decisions_cache.items() if k in keep}
        for i, point in enumerate(reversed(recent)):
            cycle_id = point.ts.isoformat()
            cached = self._decisions_cache.get(cycle_id)
            # the newest cycle may still be written; older ones are final
            if cached is None or i == 0:
                cached = self.store.load_decisions(cycle_id)
                self._decisions_cache[cycle_id] = cached
            for d in cached:
                if d.action == "HOLD" and (i > 0 or d.approved):
                    continue
                rows.append(
                    {
                        "ts": _iso(d.ts),
                        "symbol": d.symbol,
                        "action": d.action,
                        "strategy": d.strategy,
                        "qty": d.qty,
                        "price": d.price,
                        "approved": d.approved,
                        "status": d.act_status,
                        "reason": d.reason,
                    }
                )
            if len(rows) >= RECENT_ROWS:
                break
        return rows[:RECENT_ROWS]

    def _safety(self) -> dict[str, Any]:
        saved = self.store.load_state(STATE_KEY)
        status = SafetyStatus.from_json(saved) if saved else SafetyStatus()
        request = self.store.load_state(REQUEST_KEY)
        pending = bool(request and request.get("id") != status.applied_request)
        history = self.store.load_safety_events(RECENT_ROWS)
        return {
            "state": status.state.value,
            "since": _iso(status.since),
            "trading_allowed": status.state.trading_allowed,
            "last_code": status.last_code,
            "last_message": status.last_message,
            "needs_approval": status.state is SafetyState.LOCKDOWN and not pending,
            "pending_approval": (
                {"operator": request.get("operator"), "ts": request.get("ts")}
                if pending and request
                else None
            ),
            "history": [
                {
                    "ts": _iso(e.ts),
                    "kind": e.kind,
                    "code": e.code,
                    "message": e.message,
                    "before": e.state_before,
                    "after": e.state_after,
                    "operator": e.operator,
                }
                for e in reversed(history)
            ],
        }


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _day_start_equity(equity: list[EquityPoint], initial: int) -> int:
    """Equity at the end of the previous trading day (the initial cash on the first day)."""
    if not equity:
        return initial
    today = equity[-1].ts.date()
    for p in reversed(equity):
        if p.ts.date() < today:
            return p.equity
    return initial or equity[0].equity


def _curve(equity: list[EquityPoint]) -> dict[str, Any]:
    """Equity and drawdown, thinned to at most MAX_CURVE_POINTS (the last point always kept);
    the maximum drawdown is computed on every point, not the thinned ones."""
    peak = 0
    max_dd = 0.0
    dd: list[float] = []
    for p in equity:
        peak = max(peak, p.equity)
        d = (p.equity - peak) / peak if peak > 0 else 0.0
        dd.append(d)
        max_dd = min(max_dd, d)
    step = max(1, -(-len(equity) // MAX_CURVE_POINTS))
    idx = list(range(0, len(equity), step))
    if equity and idx[-1] != len(equity) - 1:
        idx.append(len(equity) - 1)
    return {
        "ts": [equity[i].ts.isoformat() for i in idx],
        "equity": [equity[i].equity for i in idx],
        "drawdown": [round(dd[i], 6) for i in idx],
        "max_drawdown": round(max_dd, 6),
        "peak": peak,
    }


def _strategies(ledger: list[LedgerEntry]) -> list[dict[str, Any]]:
    """Per strategy: closing executions (a sell's ``pnl`` is its realized profit), wins, PnL
    and fees, from the ledger."""
    stats: dict[str, dict[str, Any]] = {}
    for e in ledger:
        s = stats.setdefault(
            e.strategy or "-",
            {"strategy": e.strategy or "-", "trades": 0, "wins": 0, "pnl": 0, "fees": 0},
        )
        s["fees"] += e.commission + e.tax
        if e.side.value == "SELL":
            s["trades"] += 1
            s["wins"] += 1 if e.pnl > 0 else 0
            s["pnl"] += e.pnl
    out = []
    for s in sorted(stats.values(), key=lambda x: x["strategy"]):
        s["win_rate"] = round(s["wins"] / s["trades"], 4) if s["trades"] else None
        s["avg_pnl"] = round(s["pnl"] / s["trades"]) if s["trades"] else None
        out.append(s)
    return out


def _days(equity: list[EquityPoint], initial: int) -> list[dict[str, Any]]:
    """One row per trading day: closing equity, day PnL, cumulative PnL, drawdown."""
    closes: dict[date, EquityPoint] = {}
    for p in equity:
        closes[p.ts.date()] = p
    rows: list[dict[str, Any]] = []
    prev = initial
    peak = initial
    max_dd = 0.0
    for d, p in sorted(closes.items()):
        peak = max(peak, p.equity)
        dd = (p.equity - peak) / peak if peak > 0 else 0.0
        max_dd = min(max_dd, dd)
        rows.append(
            {
                "date": d.isoformat(),
                "equity": p.equity,
                "day_pnl": p.equity - prev,
                "cum_pnl": p.equity - initial,
                "return": round((p.equity - prev) / prev, 6) if prev else 0.0,
                "drawdown": round(dd, 6),
                "mdd": round(max_dd, 6),
                "exposure": round(p.market_value / p.equity, 4) if p.equity > 0 else 0.0,
            }
        )
        prev = p.equity
    return rows


def _order_row(o: Any) -> dict[str, Any]:
    return {
        "id": o.client_order_id,
        "ts": _iso(o.updated_at or o.created_at),
        "symbol": o.symbol,
        "side": o.side.value,
        "type": o.order_type.value,
        "qty": o.qty,
        "limit": o.limit_price,
        "status": o.status.value,
        "filled": o.filled_qty,
        "strategy": o.strategy,
        "reason": o.reason,
    }


def _fill_row(f: Any) -> dict[str, Any]:
    return {
        "id": f.fill_id,
        "ts": _iso(f.ts),
        "symbol": f.symbol,
        "side": f.side.value,
        "qty": f.qty,
        "price": f.price,
        "fees": f.commission + f.tax,
    }


def _capital(r: CapitalReadout) -> dict[str, Any] | None:
    """The operating state and the pools as rows a phone can show; None when capital flow is off
    (the run never stored them)."""
    if r.state is None and not r.pools:
        return None
    state = r.state or {}
    pools = [
        {
            "pool": name,
            "state": p.get("pool_state"),
            "total": p.get("total_capital"),
            "available": p.get("available_capital"),
            "invested": p.get("invested_capital"),
            "share_pct": _ratio(p.get("allocation_pct")),
            "target_pct": _ratio(p.get("target_allocation_pct")),
            "realized": p.get("realized_pnl"),
            "unrealized": p.get("unrealized_pnl"),
            "lock_reason": p.get("lock_reason") or "",
        }
        for name in POOL_ORDER
        if (p := r.pools.get(name)) is not None
    ]
    return {
        "state": state.get("current_state"),
        "since": state.get("transition_timestamp"),
        "reason": state.get("transition_reason"),
        "override_until": state.get("override_expiry"),
        "pools": pools,
        "transitions": [
            {
                "ts": t.payload.get("ts"),
                "move": f"{t.payload.get('from')} → {t.payload.get('to')}",
                "reason": t.payload.get("reason"),
            }
            for t in reversed(r.transitions)
        ],
    }


def _ratio(v: Any) -> float | None:
    """Stored shares are decimal strings ("0.25"); the page shows them as percentages."""
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None
