"""A sweep's results on disk: ``trials.csv``, ``best.json`` and an offline ``report.html``
(parameter surface, walk-forward equity) with inline SVG only."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from qts.backtest.optimize.space import SearchSpace
from qts.backtest.optimize.sweep import SweepResult
from qts.backtest.optimize.trial import TrialOutcome
from qts.backtest.optimize.walk_forward import WalkForward
from qts.backtest.report import PAGE_CSS, downsample_last, format_won, svg_chart, write_atomic

FIGURES = ("value", "final_equity", "total_return", "sharpe", "cagr", "max_drawdown", "trades")
# A parameter's column is ``param_<name>``: a strategy may well have a parameter called ``window``
# (an RSI's) or ``value``, which must not shadow the walk-forward window or the objective's value.
PARAM_PREFIX = "param_"


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return "" if v is None else v


def trials_csv(space: SearchSpace, rows: Sequence[tuple[str, TrialOutcome]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    params = [PARAM_PREFIX + n for n in space.names]
    w.writerow(["trial", "window", "phase", *params, *FIGURES, "seconds", "error"])
    for phase, o in rows:
        w.writerow(
            [o.number, _cell(o.window), phase, *(o.params.get(n) for n in space.names)]
            + [_cell(getattr(o, f)) for f in FIGURES]
            + [round(o.seconds, 4), o.error or ""]
        )
    return out.getvalue()


def _figures(o: TrialOutcome) -> dict[str, Any]:
    return {f: getattr(o, f) for f in FIGURES}


def best_json(
    objective: str, sweep: SweepResult | None, wf: WalkForward | None, meta: dict[str, Any]
) -> dict[str, Any]:
    doc: dict[str, Any] = {"objective": objective, **meta}
    if wf is not None:
        last = next((w for w in reversed(wf.windows) if w.sweep.best is not None), None)
        best = last.sweep.best if last is not None else None
        doc["walk_forward"] = [
            {
                "window": w.window.index,
                "train_start": _iso(w.window.train_start),
                "test_start": _iso(w.window.test_start),
                "test_end": _iso(w.window.test_end),
                "best_params": w.sweep.best.params if w.sweep.best else None,
                "train_value": w.sweep.best.value if w.sweep.best else None,
                "test": _figures(w.test) if w.test is not None else None,
                "test_error": w.test.error if w.test is not None else None,
            }
            for w in wf.windows
        ]
    else:
        assert sweep is not None
        best = sweep.best
    doc["params"] = best.params if best is not None else None
    doc["value"] = best.value if best is not None else None
    doc["trial"] = best.number if best is not None else None
    doc["figures"] = _figures(best) if best is not None else None
    return doc


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).date().isoformat()


# --- HTML -------------------------------------------------------------------------------------


def _color(t: float) -> str:
    """Blue (low) to red (high)."""
    t = min(1.0, max(0.0, t))
    r, g, b = int(40 + 200 * t), int(90 + 60 * (1 - abs(2 * t - 1))), int(200 - 170 * t)
    return f"rgb({r},{g},{b})"


def surface_svg(space: SearchSpace, outcomes: Sequence[TrialOutcome]) -> str:
    """The objective over the first two parameters (best over any others), as a heat map;
    one parameter: a bar per value."""
    ok = [o for o in outcomes if o.ok and o.value is not None and math.isfinite(o.value)]
    if not ok:
        return '<p class="note">No successful trial.</p>\n'
    dims = space.dimensions[:2]
    xs = list(dims[0].values)
    ys = list(dims[1].values) if len(dims) > 1 else [None]
    cells: dict[tuple[Any, Any], float] = {}
    for o in ok:
        key = (o.params[dims[0].name], o.params[dims[1].name] if len(dims) > 1 else None)
        assert o.value is not None
        cells[key] = max(cells.get(key, -math.inf), o.value)
    lo, hi = min(cells.values()), max(cells.values())
    cw = max(6, min(40, 800 // max(1, len(xs))))
    ch = max(6, min(30, 480 // max(1, len(ys))))
    left, top = 70, 10
    width, height = left + cw * len(xs) + 10, top + ch * len(ys) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="parameter surface">\n'
    ]
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            v = cells.get((x, y))
            if v is None:
                continue
            t = 0.5 if hi == lo else (v - lo) / (hi - lo)
            label = f"{dims[0].name}={x}" + (f", {dims[1].name}={y}" if y is not None else "")
            out.append(
                f'<rect x="{left + i * cw}" y="{top + (len(ys) - 1 - j) * ch}" width="{cw}" '
                f'height="{ch}" fill="{_color(t)}"><title>{escape(label)}: {v:.4g}</title></rect>\n'
            )
    for i in sorted({0, len(xs) // 2, len(xs) - 1}):
        out.append(
            f'<text x="{left + i * cw + cw / 2:.0f}" y="{top + ch * len(ys) + 14}" '
            f'text-anchor="middle">{escape(str(xs[i]))}</text>\n'
        )
    out.append(
        f'<text x="{left + cw * len(xs) / 2:.0f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(dims[0].name)}</text>\n"
    )
    if len(dims) > 1:
        for j in sorted({0, len(ys) // 2, len(ys) - 1}):
            out.append(
                f'<text x="{left - 6}" y="{top + (len(ys) - 1 - j) * ch + ch / 2 + 4:.0f}" '
                f'text-anchor="end">{escape(str(ys[j]))}</text>\n'
            )
        out.append(f'<text x="4" y="{top + 10}">{escape(dims[1].name)}</text>\n')
    out.append("</svg>\n")
    legend = f'<p class="note">colour: objective from {lo:.4g} (blue) to {hi:.4g} (red)</p>\n'
    return "".join(out) + legend


def _windows_table(best: dict[str, Any]) -> str:
    head = "<tr><th>window</th><th>train from</th><th>test from</th><th>test to</th>"
    head += "<th>best parameters</th><th>train value</th><th>test return</th></tr>\n"
    rows = []
    for w in best.get("walk_forward", []):
        test = w.get("test") or {}
        ret = test.get("total_return")
        value = w.get("train_value")
        cells = [
            str(w["window"]),
            w["train_start"] or "",
            w["test_start"] or "",
            w["test_end"] or "end",
            json.dumps(w["best_params"]),
            f"{value:.4g}" if value is not None else "—",
            f"{ret:+.2%}" if ret is not None else (w.get("test_error") or "—"),
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>\n")
    return "<table>\n" + head + "".join(rows) + "</table>\n"


def render_html(
    title: str,
    space: SearchSpace,
    objective: str,
    best: dict[str, Any],
    outcomes: Sequence[TrialOutcome],
    wf: WalkForward | None,
    cash: int,
) -> str:
    failed = sum(1 for o in outcomes if not o.ok)
    rows = [
        ("objective", objective),
        ("trials", f"{len(outcomes):,} ({failed:,} failed)"),
        ("best parameters", json.dumps(best.get("params"))),
        ("best value", f"{best['value']:.6g}" if best.get("value") is not None else "—"),
    ]
    if wf is not None:
        rows[1] = ("trials", f"{len(outcomes):,} in the last window ({failed:,} failed)")
        rows[2] = ("best parameters", rows[2][1] + " (last window: what to trade next)")
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n",
        f"<h1>{escape(title)}</h1>\n<table>\n",
        "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>\n" for k, v in rows),
        "</table>\n<h2>Parameter surface</h2>\n",
        surface_svg(space, outcomes),
    ]
    if wf is not None:
        parts.append("<h2>Walk-forward windows</h2>\n" + _windows_table(best))
        curve = wf.equity(cash)
        values = [float(v) for _, v in curve]
        times = [datetime.fromtimestamp(t, UTC) for t, _ in curve]
        parts += [
            "<h2>Walk-forward equity (out of sample)</h2>\n",
            svg_chart(
                values, times, downsample_last(len(values)), format_won, "walk-forward equity", "wf"
            ),
        ]
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def write_outputs(
    out: Path,
    space: SearchSpace,
    objective: str,
    sweep: SweepResult | None,
    wf: WalkForward | None,
    cash: int,
    meta: dict[str, Any],
    title: str,
) -> dict[str, Any]:
    if wf is not None:
        rows: list[tuple[str, TrialOutcome]] = []
        for w in wf.windows:
            rows += [("train", o) for o in w.sweep.outcomes]
            if w.test is not None:
                rows.append(("test", w.test))
    else:
        assert sweep is not None
        rows = [("all", o) for o in sweep.outcomes]
    best = best_json(objective, sweep, wf, meta)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "trials.csv", trials_csv(space, rows))
    text = json.dumps(best, indent=2, ensure_ascii=False, default=str)
    write_atomic(out / "best.json", text + "\n")
    if wf is not None:
        last = next((w for w in reversed(wf.windows) if w.sweep.outcomes), None)
        surface = last.sweep.outcomes if last is not None else []
    else:
        assert sweep is not None
        surface = sweep.outcomes
    html = render_html(title, space, objective, best, surface, wf, cash)
    write_atomic(out / "report.html", html)
    return best
