"""Backtest report: ``summary.json`` for machines and one offline ``report.html`` for people.

The HTML needs nothing but a browser: inline CSS, inline SVG charts, no scripts, no CDN, so it
can be mailed or archived with the run. Every piece of text is escaped. Charts are downsampled
(see :func:`downsample_last` and :func:`downsample_minmax`) so a long intraday run stays small.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from html import escape
from pathlib import Path
from typing import Any

from qts.backtest.capital_chart import capital_section
from qts.backtest.output import make_dir, write_whole
from qts.core.time import KST
from qts.data.ports import EquityPoint
from qts.engines.performance import PerformanceReport, Trade, drawdowns, kst_date

MAX_CHART_POINTS = 2_000
MAX_TRADE_ROWS = 5_000
_PRICE_QUANTUM = Decimal("0.0001")


# --- JSON -------------------------------------------------------------------------------------


def price_to_json(price: Decimal) -> int | float:
    """An integral price as int; otherwise a float rounded half-even to 4 decimals."""
    if price == price.to_integral_value():
        return int(price)
    return float(price.quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN))


def trade_to_json(t: Trade) -> dict[str, Any]:
    """One trade for ``summary.json``: ISO times, prices per :func:`price_to_json`, int won."""
    return {
        "symbol": t.symbol,
        "entry_time": t.entry_time.isoformat(),
        "entry_price": price_to_json(t.entry_price),
        "exit_time": t.exit_time.isoformat(),
        "exit_price": price_to_json(t.exit_price),
        "qty": t.qty,
        "pnl": t.pnl,
        "fees": t.fees,
        "cost": t.cost,
        "return_pct": t.return_pct,
        "holding_seconds": _seconds(t.holding),
        "strategy": t.strategy,
        "fills": t.fills,
    }


_PLAIN = frozenset({type(None), bool, int, str})
"""Types ``to_jsonable`` returns as they are (exactly these: a subclass takes the long way)."""


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from whatever the caller put in the summary; non-finite floats -> None."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Decimal):
        return price_to_json(obj) if obj.is_finite() else None
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return _seconds(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Trade):
        return trade_to_json(obj)
    if isinstance(obj, PerformanceReport):
        return obj.as_dict()
    if isinstance(obj, dict):
        # plain values are kept without a call each: a report's trades are ~13 of them apiece
        plain = _PLAIN
        return {str(k): v if type(v) in plain else to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy
        return to_jsonable(obj.tolist())
    return str(obj)


# --- the report -------------------------------------------------------------------------------


def json_text(doc: dict[str, Any], expand: int = 2) -> str:
    """Readable JSON written by the C encoder: the first ``expand`` levels of objects and lists
    one member per line, anything deeper compact on its line (``json.dumps(indent=2)`` falls
    back to pure Python, which took seconds for a report with thousands of trades). One encoder
    serves every call: ``json.dumps`` with options builds a new one each time."""
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    key = json.JSONEncoder(ensure_ascii=False).encode

    def render(value: Any, depth: int) -> str:
        if depth >= expand or not isinstance(value, dict | list) or not value:
            return encode(value)
        pad = "  " * (depth + 1)
        if isinstance(value, dict):
            items = [f"{pad}{key(str(k))}: {render(v, depth + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
        items = [pad + render(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"

    return render(doc, 0) + "\n"


def write_report(
    out_dir: Path,
    summary: dict[str, Any],
    equity: Sequence[EquityPoint],
    trades: Sequence[Trade],
    report: PerformanceReport,
    title: str,
) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``report.html`` into ``out_dir``; returns both paths.

    ``summary`` is not modified. The file gets a ``statistics`` block from ``report``, and
    ``trades`` / ``final_equity`` from the arguments when the summary has none.
    """
    doc = dict(summary)
    doc.setdefault("final_equity", report.final_equity)
    if "trades" not in doc:  # not setdefault: that would convert every trade just to drop them
        doc["trades"] = [trade_to_json(t) for t in trades]
    doc["statistics"] = report.as_dict()
    make_dir(out_dir)
    json_path = out_dir / "summary.json"
    html_path = out_dir / "report.html"
    write_atomic(json_path, json_text(to_jsonable(doc)))
    write_atomic(html_path, render_html(summary, equity, trades, report, title))
    return json_path, html_path


def render_html(
    summary: dict[str, Any],
    equity: Sequence[EquityPoint],
    trades: Sequence[Trade],
    report: PerformanceReport,
    title: str,
) -> str:
    """The whole report page as one string."""
    values = [p.equity for p in equity]
    dd = [-100.0 * x for x in drawdowns(values, report.initial_cash)]
    times = [p.ts for p in equity]
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n",
        f"<h1>{escape(title)}</h1>\n",
        "<h2>Run parameters</h2>\n",
        _kv_table(_flatten(summary)),
        "<h2>Statistics</h2>\n",
        _kv_table(_stat_rows(report)),
        "<h2>Equity</h2>\n",
        svg_chart(
            values, times, downsample_last(len(values)), format_won, "equity curve", "equity"
        ),
        "<h2>Drawdown</h2>\n",
        svg_chart(dd, times, downsample_minmax(dd), _pct_value, "drawdown", "drawdown", area=True),
        capital_section(summary),
        f"<h2>Trades ({len(trades):,})</h2>\n",
        _trade_table(trades),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def downsample_last(n: int, max_points: int = MAX_CHART_POINTS) -> list[int]:
    """Indices to plot: the first point, then the last of each of ``max_points - 1`` buckets."""
    if n <= max_points:
        return list(range(n))
    buckets = max_points - 1
    ends = [(b + 1) * n // buckets - 1 for b in range(buckets)]
    return ends if ends[0] == 0 else [0, *ends]


def downsample_minmax(values: Sequence[float], max_points: int = MAX_CHART_POINTS) -> list[int]:
    """Indices to plot: the first point, then each bucket's min and max in time order.

    Keeping both extremes means the deepest drawdown is always drawn.
    """
    n = len(values)
    if n <= max_points:
        return list(range(n))
    buckets = (max_points - 1) // 2
    out = [0]
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        chunk = values[lo:hi]
        i_min = lo + min(range(len(chunk)), key=chunk.__getitem__)
        i_max = lo + max(range(len(chunk)), key=chunk.__getitem__)
        for i in sorted({i_min, i_max}):
            if i != out[-1]:
                out.append(i)
    return out


# --- pieces -----------------------------------------------------------------------------------

PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.win td.p{color:#0a7d32}tr.loss td.p{color:#c0271a}
.note{color:#777;font-style:italic}
svg{background:#fcfcfc;border:1px solid #e5e5e5}
svg text{font-size:11px;fill:#555}
"""

_W, _H = 960, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 100, 12, 12, 28


def svg_chart(
    values: Sequence[float],
    times: Sequence[datetime],
    idx: Sequence[int],
    fmt: Callable[[float], str],
    label: str,
    css: str,
    area: bool = False,
) -> str:
    n = len(values)
    if n == 0:
        return '<p class="note">No equity points.</p>\n'
    lo, hi = min(values), max(values)
    if area:
        hi = 0.0
        lo = min(lo, -1.0) if lo >= 0 else lo
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return _TOP + ph * (hi - v) / (hi - lo)

    pts = " ".join(f"{x(i):.1f},{y(values[i]):.1f}" for i in idx)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}">\n'
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        yy = y(v)
        out.append(
            f'<line x1="{_LEFT}" y1="{yy:.1f}" x2="{_W - _RIGHT}" y2="{yy:.1f}" '
            f'stroke="#eee"/>\n<text x="{_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(v))}</text>\n"
        )
    for i, anchor in ((0, "start"), ((n - 1) // 2, "middle"), (n - 1, "end")):
        out.append(
            f'<text x="{x(i):.1f}" y="{_H - 8}" text-anchor="{anchor}">'
            f"{escape(kst_date(times[i]).isoformat())}</text>\n"
        )
    if area:
        base = y(0.0)
        first, last = x(idx[0]), x(idx[-1])
        out.append(
            f'<polygon points="{first:.1f},{base:.1f} {pts} {last:.1f},{base:.1f}" '
            f'fill="#f4c7c3" stroke="none"/>\n'
        )
    color = "#c0271a" if area else "#1f5fbf"
    out.append(
        f'<polyline class="{css}" points="{pts}" fill="none" stroke="{color}" '
        f'stroke-width="1.3"/>\n</svg>\n'
    )
    return "".join(out)


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="note">None.</p>\n'
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>\n" for k, v in rows)
    return f"<table>\n{body}</table>\n"


def _flatten(summary: dict[str, Any], limit: int = 300) -> list[tuple[str, str]]:
    """Run parameters: every summary entry except the bulky ones, nested keys dotted."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict) and value and depth < 2:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v, depth + 1)
            return
        if isinstance(value, list | tuple) and len(value) > 20:
            rows.append((prefix, f"{len(value):,} items"))
            return
        text = json.dumps(to_jsonable(value), ensure_ascii=False, allow_nan=False)
        text = text.strip('"') if isinstance(value, str) else text
        rows.append((prefix, text if len(text) <= 200 else text[:197] + "..."))

    for key, value in summary.items():
        if key in ("trades", "statistics", "equity", "capital", "state_transitions", "transfers"):
            continue
        walk(str(key), value, 0)
    if len(rows) > limit:
        rows = [*rows[:limit], ("...", f"{len(rows) - limit:,} more entries in summary.json")]
    return rows


def _stat_rows(r: PerformanceReport) -> list[tuple[str, str]]:
    pf = "∞" if math.isinf(r.profit_factor) else f"{r.profit_factor:.2f}"
    return [
        ("Period", f"{_when(r.start)} → {_when(r.end)}"),
        ("Initial cash", format_won(r.initial_cash)),
        ("Final equity", format_won(r.final_equity)),
        ("Total return", _pct(r.total_return)),
        ("CAGR", _pct(r.cagr)),
        (f"Volatility (annualised, {r.periods_per_year}/yr)", _pct(r.volatility)),
        (f"Sharpe (risk-free {_pct(r.risk_free)})", f"{r.sharpe:.2f}"),
        ("Max drawdown", f"{_pct(r.max_drawdown)} ({format_won(r.max_drawdown_amount)})"),
        (
            "Max drawdown peak → trough",
            f"{_when(r.max_drawdown_peak)} → {_when(r.max_drawdown_trough)}",
        ),
        (
            "Longest drawdown",
            human_duration(r.max_drawdown_duration)
            + ("" if r.max_drawdown_recovered else " (not recovered)"),
        ),
        ("Exposure (share of points holding stock)", _pct(r.exposure)),
        ("Days", f"{r.days:,}"),
        ("Daily win rate", _pct(r.daily_win_rate)),
        ("Trades", f"{r.trades:,} ({r.winning_trades:,} won, {r.losing_trades:,} lost)"),
        ("Win rate", _pct(r.win_rate)),
        ("Profit factor", pf),
        ("Gross profit / loss", f"{format_won(r.gross_profit)} / {format_won(r.gross_loss)}"),
        ("Net trade PnL (after fees)", format_won(r.net_trade_pnl)),
        ("Trade fees", format_won(r.trade_fees)),
        ("Average win / loss", f"{format_won(r.avg_win)} / {format_won(r.avg_loss)}"),
        ("Largest win / loss", f"{format_won(r.largest_win)} / {format_won(r.largest_loss)}"),
        ("Max consecutive losses", f"{r.max_consecutive_losses:,}"),
        ("Average holding", human_duration(r.avg_holding)),
    ]


_TRADE_HEAD = (
    "<table>\n<tr><th>#</th><th>Symbol</th><th>Strategy</th><th>Entry (KST)</th>"
    "<th>Entry price</th><th>Exit (KST)</th><th>Exit price</th><th>Qty</th><th>PnL</th>"
    "<th>Fees</th><th>Return</th><th>Held</th></tr>\n"
)


def _trade_table(trades: Sequence[Trade]) -> str:
    if not trades:
        return '<p class="note">No closed trades.</p>\n'
    n = len(trades)
    half = MAX_TRADE_ROWS // 2
    parts = [_TRADE_HEAD]
    row = _TradeRows()
    if n <= MAX_TRADE_ROWS:
        parts.extend(row(i, t) for i, t in enumerate(trades, 1))
    else:
        parts.extend(row(i, trades[i - 1]) for i in range(1, half + 1))
        parts.append(
            f'<tr><td colspan="12" class="note">{n - 2 * half:,} trades not shown; '
            "summary.json lists all of them.</td></tr>\n"
        )
        parts.extend(row(i, trades[i - 1]) for i in range(n - half + 1, n + 1))
    parts.append("</table>\n")
    note = ""
    if n > MAX_TRADE_ROWS:
        note = f'<p class="note">{n:,} trades: the first and the last {half:,} are shown.</p>\n'
    return note + "".join(parts)


class _TradeRows:
    """Rows of the trade table. Thousands of trades share a few symbols and strategies and, on
    daily bars, their entry and exit instants, so those are escaped or formatted once each;
    numbers, percentages, durations and ``_when`` times hold nothing to escape."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}
        self._when: dict[datetime, str] = {}

    def text(self, s: str) -> str:
        out = self._text.get(s)
        if out is None:
            out = self._text[s] = escape(s)
        return out

    def when(self, ts: datetime) -> str:
        out = self._when.get(ts)
        if out is None:
            out = self._when[ts] = _when(ts)
        return out

    def __call__(self, i: int, t: Trade) -> str:
        cls = "win" if t.pnl > 0 else "loss" if t.pnl < 0 else "flat"
        return (
            f'<tr class="{cls}"><td class="n">{i}</td><td>{self.text(t.symbol)}</td>'
            f"<td>{self.text(t.strategy)}</td><td>{self.when(t.entry_time)}</td>"
            f'<td class="n">{_price(t.entry_price)}</td>'
            f"<td>{self.when(t.exit_time)}</td>"
            f'<td class="n">{_price(t.exit_price)}</td><td class="n">{t.qty:,}</td>'
            f'<td class="n p">{t.pnl:,}</td><td class="n">{t.fees:,}</td>'
            f'<td class="n p">{_pct(t.return_pct)}</td>'
            f"<td>{human_duration(t.holding)}</td></tr>\n"
        )


# --- formatting -------------------------------------------------------------------------------


def format_won(v: float) -> str:
    return f"{round(v):,}"


def _pct(v: float) -> str:
    return f"{v * 100:.2f}%"


def _pct_value(v: float) -> str:
    return f"{v:.1f}%"


def _price(p: Decimal) -> str:
    v = price_to_json(p)
    return f"{v:,}" if isinstance(v, int) else f"{v:,.4f}"


def _when(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    local = ts if ts.tzinfo is None else ts.astimezone(KST)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def human_duration(td: timedelta | None) -> str:
    """``50 d 10 h``, ``3 h 5 min``, ``42 s``: the two largest units, not Python's repr."""
    if td is None:
        return "-"
    total = int(td.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    units = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if total >= size or (name == "s" and not parts):
            parts.append(f"{total // size} {name}")
            total %= size
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def _seconds(td: timedelta) -> int | float:
    s = td.total_seconds()
    return int(s) if s.is_integer() else s


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target and rename, so a crash never leaves half a file."""
    write_whole(path, text)
