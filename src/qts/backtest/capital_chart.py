"""The report's capital section: the three pools stacked over time, and the operating state as a
coloured band under them (inline SVG, no scripts), plus the transitions and transfers."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

W, H, LEFT, RIGHT, TOP, BAND = 900, 300, 90, 20, 16, 18
POOL_COLORS = (("scalp", "#e07b39"), ("swing", "#3a7fc1"), ("portfolio", "#4f9d5d"))
STATE_COLORS = {"AGGRESSIVE": "#d9534f", "BALANCED": "#f0ad4e", "DEFENSIVE": "#5b8def"}
MAX_POINTS = 1_500


def capital_section(summary: dict[str, Any]) -> str:
    rows: Sequence[dict[str, Any]] = summary.get("capital") or []
    if not rows:
        return ""
    step = max(1, len(rows) // MAX_POINTS)
    pts = list(rows[::step])
    if pts[-1] is not rows[-1]:
        pts.append(rows[-1])
    n = len(pts)
    top = max(r["equity"] for r in pts) or 1
    ph = H - TOP - BAND - 30

    def x(i: int) -> float:
        return LEFT + (W - LEFT - RIGHT) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return TOP + ph * (1 - v / top)

    out = [
        "<h2>Capital pools and operating state</h2>\n",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="capital pools">\n',
    ]
    base = [0] * n
    for key, color in POOL_COLORS:
        upper = [base[i] + max(0, pts[i][key]) for i in range(n)]
        fwd = " ".join(f"{x(i):.1f},{y(upper[i]):.1f}" for i in range(n))
        back = " ".join(f"{x(i):.1f},{y(base[i]):.1f}" for i in reversed(range(n)))
        out.append(
            f'<polygon class="pool-{key}" points="{fwd} {back}" fill="{color}" '
            f'fill-opacity="0.75" stroke="none"><title>{key}</title></polygon>\n'
        )
        base = upper
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>\n')
    band_y = TOP + ph + 6
    start = 0
    for i in range(1, n + 1):
        if i == n or pts[i]["state"] != pts[start]["state"]:
            state = str(pts[start]["state"])
            x0, x1 = x(start), x(i - 1) if i < n else x(n - 1)
            out.append(
                f'<rect class="state-{escape(state)}" x="{x0:.1f}" y="{band_y}" '
                f'width="{max(x1 - x0, 1.0):.1f}" height="{BAND}" '
                f'fill="{STATE_COLORS.get(state, "#999")}"><title>{escape(state)} from '
                f"{escape(str(pts[start]['date']))}</title></rect>\n"
            )
            start = i
    for i, anchor in ((0, "start"), (n - 1, "end")):
        out.append(
            f'<text x="{x(i):.1f}" y="{H - 4}" text-anchor="{anchor}">'
            f"{escape(str(pts[i]['date']))}</text>\n"
        )
    out.append("</svg>\n<p>")
    out += [f'<span style="color:{c}">■</span> {k} &nbsp; ' for k, c in POOL_COLORS] + [
        f'<span style="color:{c}">■</span> {s} &nbsp; ' for s, c in STATE_COLORS.items()
    ]
    out.append("</p>\n")
    trans = summary.get("state_transitions") or []
    out.append(f"<h3>State transitions ({len(trans):,})</h3>\n<table>\n")
    out.append("<tr><th>time</th><th>from</th><th>to</th><th>kind</th><th>reason</th></tr>\n")
    for t in trans[:500]:
        out.append(
            "<tr>"
            + "".join(
                f"<td>{escape(str(t[k]))}</td>" for k in ("ts", "from", "to", "kind", "reason")
            )
            + "</tr>\n"
        )
    out.append("</table>\n")
    transfers = summary.get("transfers") or []
    out.append(f"<h3>Transfers ({len(transfers):,})</h3>\n<table>\n")
    out.append(
        "<tr><th>time</th><th>from</th><th>to</th><th>won</th><th>kind</th><th>reason</th></tr>\n"
    )
    for t in transfers[:500]:
        out.append(
            f"<tr><td>{escape(t['ts'])}</td><td>{escape(t['from'])}</td><td>{escape(t['to'])}"
            f"</td><td>{t['amount']:,}</td><td>{escape(t['kind'])}</td>"
            f"<td>{escape(t['reason'])}</td></tr>\n"
        )
    out.append("</table>\n")
    return "".join(out)
