"""The end-of-day report: the day's books in a few lines, from the store (the same data as the
dashboard), so it is right after a restart too."""

from __future__ import annotations

from datetime import date

from qts.data.ports import TradingStore
from qts.ops.alerts.channels import Alert
from qts.safety.state import SafetyStatus
from qts.safety.supervisor import STATE_KEY


def day_report(store: TradingStore, day: date) -> Alert:
    equity = store.load_equity()
    today = [p for p in equity if p.ts.date() == day]
    before = [p for p in equity if p.ts.date() < day]
    meta = store.run_meta()
    start = before[-1].equity if before else (meta.initial_cash if meta else 0)
    end = today[-1] if today else (before[-1] if before else None)
    fills = [f for f in store.load_fills() if f.ts.date() == day]
    orders = [o for o in store.load_orders() if o.created_at.date() == day]
    rejected = sum(1 for o in orders if o.status.value == "REJECTED")
    peak, worst = 0, 0
    for p in today:
        peak = max(peak, p.equity)
        worst = min(worst, p.equity - peak)
    saved = store.load_state(STATE_KEY)
    state = (SafetyStatus.from_json(saved) if saved else SafetyStatus()).state.value
    close = end.equity if end else start
    pnl = close - start
    fees = sum(f.commission + f.tax for f in fills)
    open_positions = sum(1 for p in store.load_positions().values() if p.qty)
    data = {
        "day": day.isoformat(),
        "equity": close,
        "day_pnl": pnl,
        "day_return": round(pnl / start, 6) if start else 0.0,
        "max_intraday_drawdown": worst,
        "fills": len(fills),
        "orders": len(orders),
        "rejections": rejected,
        "fees": fees,
        "open_positions": open_positions,
        "safety_state": state,
    }
    text = (
        f"equity {close:,} KRW, day PnL {pnl:+,} ({data['day_return']:+.2%}), "
        f"max intraday drawdown {worst:,}\n"
        f"{len(fills)} fills, {len(orders)} orders ({rejected} rejected), fees {fees:,}; "
        f"{open_positions} open positions; safety {state}"
    )
    return Alert("day_report", f"day report {day.isoformat()}", text, data)
