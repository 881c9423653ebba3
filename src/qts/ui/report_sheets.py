"""The report sheets: Strategy, Portfolio, Performance, Dividend and R_Dash, rendered from the
dashboard's view (the same numbers) and written as plain values (Zero-Formula: RAW input, no
formula anywhere, no merged cells).

Layout (legacy-core §2.3, where the spec's layouts disagree the gssheet.json block layout wins;
ADR 0014): every block starts with its title cell, then a header row, then values.

- ``R_Dash``: global risk panel (A1), daily risk status (A5), position risk checks (A9), risk
  flags (A13), pipeline status (A17); levels NORMAL / WARNING / HIGH / CRITICAL.
- ``Strategy``: one row per strategy (Strategy, Trades, Win_Rate, Total_PnL, Avg_PnL, ...).
- ``Portfolio``: KPI overview (A1) and the allocation (V1: symbol, market value, weight).
- ``Performance``: KPI summary (A1), cumulative return (A7: date, equity), daily summary table
  (A45: date, daily PnL, cumulative PnL, return, MDD, exposure, drawdown).
- ``Dividend``: the year's row; QTS books no dividends yet, so the amounts are 0 and the note
  says so rather than leave the operator guessing.

Quota: one ``values:batchUpdate`` per write for all five tabs, only when a tab's values changed,
and at most one write per ``interval_s`` (default 10 s: 6 writes a minute, a tenth of Google's
60-writes-a-minute-per-user quota). Tabs are added once, when missing. A failed write is logged
and retried at the next turn: reports never stop trading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from qts.data.sheets.a1 import a1
from qts.data.sheets.client import SheetsClient
from qts.engines.risk import RiskLimits
from qts.ui.cache import ViewCache

log = logging.getLogger(__name__)

Cell = str | int | float
Grid = dict[tuple[int, int], Cell]  # (row, col), 1-based
TABS = ("R_Dash", "Strategy", "Portfolio", "Performance", "Dividend")
ROWS, COLS = 200, 26


def _put(grid: Grid, row: int, col: int, rows: list[list[Cell | None]]) -> None:
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            grid[(row + i, col + j)] = "-" if v is None else v


def _level(value: float, warn: float, high: float, critical: float) -> str:
    if value >= critical:
        return "CRITICAL"
    if value >= high:
        return "HIGH"
    return "WARNING" if value >= warn else "NORMAL"


def r_dash(view: dict[str, Any], limits: RiskLimits, now: str) -> Grid:
    a, s, live = view["account"], view["safety"], view.get("live") or {}
    equity = a["equity"]
    start = equity - a["day_pnl"]
    dd_today = a["day_pnl"] / start if start > 0 else 0.0
    loss_cap = limits.daily_loss_limit
    exposure = a["exposure_pct"]
    weights = [p["market_value"] / equity for p in view["positions"]] if equity > 0 else []
    top = max(weights, default=0.0)
    exposure_level = _level(exposure / limits.max_exposure, 0.7, 0.9, 1.0)
    pnl_level = (
        _level(-dd_today / loss_cap, 0.5, 0.8, 1.0) if loss_cap and dd_today < 0 else "NORMAL"
    )
    conc_level = _level(top / limits.max_symbol_weight, 0.7, 0.9, 1.0)
    mdd = view["curve"]["max_drawdown"]
    killswitch = "ACTIVE" if not s["trading_allowed"] else "OFF"
    order = ["NORMAL", "WARNING", "HIGH", "CRITICAL"]
    final = max(exposure_level, pnl_level, conc_level, key=order.index)
    if s["state"] in ("FAIL", "LOCKDOWN"):
        final = "CRITICAL"
    score = round(100 * order.index(final) / 3)
    g: Grid = {}
    _put(g, 1, 1, [["global_risk_panel"]])
    _put(
        g,
        2,
        1,
        [
            [
                "KillSwitch_State",
                "Exposure_Level",
                "Daily_Loss_Cap",
                "Portfolio_MDD",
                "Final_Risk_Level",
            ],
            [killswitch, exposure_level, loss_cap, mdd, final],
        ],
    )
    _put(g, 5, 1, [["daily_risk_status"]])
    _put(
        g,
        6,
        1,
        [
            [
                "daily_pnl",
                "unrealized_pnl",
                "realized_pnl",
                "dd_today",
                "pnl_status",
                "loss_cap_trigger",
            ],
            [
                a["day_pnl"],
                a["unrealized"],
                a["realized"],
                round(dd_today, 6),
                pnl_level,
                "YES" if loss_cap and dd_today <= -loss_cap else "NO",
            ],
        ],
    )
    _put(
        g,
        5,
        8,
        [["portfolio_risk_score"], ["final_risk_score", "final_risk_rating"], [score, final]],
    )
    _put(g, 9, 1, [["position_risk_checks"]])
    _put(
        g,
        10,
        1,
        [
            [
                "total_exposure",
                "max_position_count",
                "max_position_pct",
                "concentration",
                "exposure_limit",
                "position_rule_status",
            ],
            [
                exposure,
                a["positions"],
                round(top, 4),
                round(sum(w * w for w in weights), 4),
                limits.max_exposure,
                "OK"
                if exposure <= limits.max_exposure and top <= limits.max_symbol_weight
                else "BREACH",
            ],
        ],
    )
    _put(g, 13, 1, [["risk_flags_panel"]])
    _put(
        g,
        14,
        1,
        [
            ["exposure_flag", "pnl_flag", "concentration_flag", "safety_flag"],
            [exposure_level, pnl_level, conc_level, s["state"]],
        ],
    )
    _put(g, 17, 1, [["pipeline_status"]])
    _put(
        g,
        18,
        1,
        [
            [
                "pipeline_state",
                "last_error_code",
                "last_message",
                "cycle_timestamp",
                "cycles",
                "fills",
                "updated_at",
            ],
            [
                s["state"],
                s["last_code"] or None,
                s["last_message"] or None,
                view["run"]["as_of"],
                live.get("cycles", view["counts"]["cycles"]),
                view["counts"]["fills"],
                now,
            ],
        ],
    )
    return g


def strategy(view: dict[str, Any]) -> Grid:
    g: Grid = {}
    head: list[Cell | None] = [
        "Strategy",
        "Trades",
        "Win_Rate",
        "Total_PnL",
        "Avg_PnL",
        "Fees",
        "Note",
    ]
    rows: list[list[Cell | None]] = [head]
    for s in view["strategies"]:
        rows.append(
            [
                s["strategy"],
                s["trades"],
                s["win_rate"],
                s["pnl"],
                s["avg_pnl"],
                s["fees"],
                "closing sells",
            ]
        )
    _put(g, 1, 1, rows)
    return g


def portfolio(view: dict[str, Any]) -> Grid:
    a, s = view["account"], view["safety"]
    equity = a["equity"]
    g: Grid = {}
    _put(g, 1, 1, [["kpi_overview"]])
    _put(
        g,
        2,
        1,
        [
            [
                "total_equity",
                equity,
                "daily_pnl",
                a["day_pnl"],
                None,
                "exposure",
                a["exposure_pct"],
                None,
                "cash_ratio",
                round(a["cash"] / equity, 4) if equity > 0 else None,
                None,
                "holdings_count",
                a["positions"],
                None,
                "killswitch_status",
                "ACTIVE" if not s["trading_allowed"] else "OFF",
            ]
        ],
    )
    rows: list[list[Cell | None]] = [
        ["portfolio_allocation"],
        ["symbol", "market_value", "weight", "unrealized_pnl", "strategy"],
    ]
    for p in view["positions"]:
        rows.append(
            [
                p["symbol"],
                p["market_value"],
                round(p["market_value"] / equity, 4) if equity > 0 else None,
                p["unrealized"],
                p["strategy"],
            ]
        )
    _put(g, 1, 22, rows)
    return g


def performance(view: dict[str, Any]) -> Grid:
    days = view["days"]
    initial = view["run"]["initial_cash"]
    returns = [d["return"] for d in days]
    n = len(returns)
    mean = sum(returns) / n if n else 0.0
    vol = (sum((r - mean) ** 2 for r in returns) / (n - 1)) ** 0.5 if n > 1 else None
    sharpe = round(mean / vol * (252**0.5), 4) if vol else None
    trades = sum(s["trades"] for s in view["strategies"])
    wins = sum(s["wins"] for s in view["strategies"])
    g: Grid = {}
    _put(
        g,
        1,
        1,
        [["kpi_summary", "total_return", "mdd", "daily_vol", "sharpe", "win_rate", "trades"]],
    )
    _put(
        g,
        2,
        1,
        [
            [
                "value",
                round(view["account"]["total_pnl"] / initial, 6) if initial else None,
                view["curve"]["max_drawdown"],
                round(vol, 6) if vol is not None else None,
                sharpe,
                round(wins / trades, 4) if trades else None,
                trades,
            ]
        ],
    )
    curve: list[list[Cell | None]] = [["cumulative_return"], ["date", "equity_curve", "return"]]
    for d in days[-30:]:
        curve.append(
            [d["date"], d["equity"], round(d["cum_pnl"] / initial, 6) if initial else None]
        )
    _put(g, 7, 1, curve)
    table: list[list[Cell | None]] = [
        ["summary_table"],
        ["date", "daily_pnl", "cum_pnl", "return_pct", "mdd", "exposure", "drawdown"],
    ]
    for d in days[-100:]:
        table.append(
            [
                d["date"],
                d["day_pnl"],
                d["cum_pnl"],
                d["return"],
                d["mdd"],
                d["exposure"],
                d["drawdown"],
            ]
        )
    _put(g, 45, 1, table)
    return g


def dividend(view: dict[str, Any]) -> Grid:
    year = (view["run"]["as_of"] or "")[:4] or "-"
    g: Grid = {}
    _put(
        g,
        1,
        1,
        [
            ["year", "total_dividend", "dividend_yield", "note"],
            [year, 0, 0.0, "no dividends are booked by this build (dividend data not connected)"],
        ],
    )
    return g


RENDERERS: dict[str, Callable[[dict[str, Any], RiskLimits, str], Grid]] = {
    "R_Dash": r_dash,
    "Strategy": lambda v, _l, _n: strategy(v),
    "Portfolio": lambda v, _l, _n: portfolio(v),
    "Performance": lambda v, _l, _n: performance(v),
    "Dividend": lambda v, _l, _n: dividend(v),
}


def to_rows(grid: Grid) -> list[list[Cell]]:
    if not grid:
        return []
    height = max(r for r, _ in grid)
    width = max(c for _, c in grid)
    rows: list[list[Cell]] = [[""] * width for _ in range(height)]
    for (r, c), v in grid.items():
        rows[r - 1][c - 1] = v
    return rows


class ReportSheets:
    """Writes the five tabs from ``cache`` through ``client``, as described above."""

    def __init__(
        self,
        client: SheetsClient,
        cache: ViewCache,
        limits: RiskLimits,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.cache = cache
        self.limits = limits
        self.now = now
        self.writes = 0
        self.failures = 0
        self._written: dict[str, list[list[Cell]]] = {}
        self._ready = False

    def _ensure_tabs(self) -> None:
        present = self.client.metadata().by_title()
        missing = [t for t in TABS if t not in present]
        if missing:
            self.client.add_sheets([(t, ROWS, COLS) for t in missing])
        self._ready = True

    def render(self) -> dict[str, list[list[Cell]]]:
        view = self.cache.get()
        stamp = self.now().isoformat(timespec="seconds")
        return {tab: to_rows(RENDERERS[tab](view, self.limits, stamp)) for tab in TABS}

    def write(self) -> bool:
        """One turn: write the tabs whose values changed; True if a request was sent."""
        try:
            if not self._ready:
                self._ensure_tabs()
            tabs = self.render()
            updates = []
            for tab, rows in tabs.items():
                old = self._written.get(tab)
                if _without_stamp(tab, old) == _without_stamp(tab, rows):
                    continue
                height = max(len(rows), len(old or []))
                width = max([len(r) for r in rows] + [len(r) for r in (old or [])] + [1])
                block = [
                    (rows[i] + [""] * (width - len(rows[i]))) if i < len(rows) else [""] * width
                    for i in range(height)
                ]
                updates.append((a1(tab, 1, 1, height, width), block))
            if not updates:
                return False
            self.client.batch_update(updates)  # RAW: values only, never a formula
            self.writes += 1
            for tab, rows in tabs.items():
                self._written[tab] = rows
            return True
        except Exception as exc:
            self.failures += 1
            log.warning("report sheets not written: %s", type(exc).__name__)
            return False


def _without_stamp(tab: str, rows: list[list[Cell]] | None) -> Any:
    """R_Dash carries the time of writing; a new time alone is no reason to write."""
    if rows is None or tab != "R_Dash" or len(rows) < 19:
        return rows
    return [*rows[:18], rows[18][:-1], *rows[19:]]
