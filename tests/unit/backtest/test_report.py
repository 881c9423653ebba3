"""Backtest report: summary.json is plain JSON, report.html is one offline, well-formed page."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.backtest.report import (
    MAX_CHART_POINTS,
    downsample_last,
    downsample_minmax,
    json_text,
    price_to_json,
    render_html,
    trade_to_json,
    write_report,
)
from qts.core.time import kst
from qts.data.ports import EquityPoint
from qts.engines.performance import Trade, compute

T0 = kst(2024, 3, 4, 9, 0)
REQUIRED_TRADE_KEYS = {
    "symbol",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "qty",
    "pnl",
}
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"}


class Structure(HTMLParser):
    """Checks that every element is closed in order and collects the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html_text: str) -> Structure:
    p = Structure()
    p.feed(html_text)
    p.close()
    assert p.errors == []
    assert p.stack == []
    return p


def curve(n: int, step: timedelta = timedelta(minutes=30)) -> list[EquityPoint]:
    out = []
    for i in range(n):
        eq = 10_000_000 + (i * 7_919 % 1_000_003) - 400_000 * ((i // 300) % 2)
        out.append(EquityPoint(T0 + i * step, eq - 1_000, 1_000, eq, 0, 0, 0))
    return out


def trades(n: int, prefix: str = "S") -> list[Trade]:
    return [
        Trade(
            symbol=f"{prefix}{i:05d}",
            entry_time=T0 + timedelta(hours=i),
            entry_price=Decimal(1_000 + i) / 3,
            exit_time=T0 + timedelta(hours=i, minutes=30),
            exit_price=Decimal(1_010 + i),
            qty=3,
            pnl=(i % 7) * 100 - 300,
            fees=12,
            cost=1_000 + i,
            strategy="ma_cross",
            fills=2,
        )
        for i in range(n)
    ]


def summary_of(ts: list[Trade]) -> dict:
    return {
        "final_equity": 10_123_456,
        "symbol_bars": {"005930": 1_234, "000660": 987},
        "initial_cash": 10_000_000,
        "strategy": "ma_cross",
        "params": {"fast": 5, "slow": 20, "threshold": Decimal("0.5")},
        "trades": [trade_to_json(t) for t in ts],
    }


# --- JSON -------------------------------------------------------------------------------------


def test_price_to_json() -> None:
    assert price_to_json(Decimal(105)) == 105
    assert isinstance(price_to_json(Decimal("105.000")), int)
    assert price_to_json(Decimal("105.5")) == 105.5
    assert price_to_json(Decimal(1_000) / 3) == 333.3333
    assert price_to_json(Decimal("0.00005")) == 0.0  # half to even
    assert price_to_json(Decimal("0.00015")) == 0.0002


def test_trade_to_json() -> None:
    t = Trade(
        "005930",
        T0,
        Decimal(105),
        T0 + timedelta(days=1),
        Decimal(241) / 2,
        20,
        190,
        110,
        2_100,
        "s1",
        3,
    )
    d = trade_to_json(t)
    assert d.keys() >= REQUIRED_TRADE_KEYS
    assert d["entry_time"] == "2024-03-04T09:00:00+09:00"
    assert d["exit_time"] == "2024-03-05T09:00:00+09:00"
    assert d["entry_price"] == 105 and isinstance(d["entry_price"], int)
    assert d["exit_price"] == 120.5
    assert d["pnl"] == 190 and isinstance(d["pnl"], int)
    assert d["holding_seconds"] == 86_400
    json.dumps(d, allow_nan=False)


def test_summary_json_has_the_required_keys_and_statistics(tmp_path: Path) -> None:
    ts = trades(5)
    eq = curve(50)
    rep = compute(eq, ts, 10_000_000)
    summary = summary_of(ts)
    before = json.dumps(summary, default=str)
    json_path, html_path = write_report(tmp_path / "run", summary, eq, ts, rep, "Run 1")
    assert json_path == tmp_path / "run" / "summary.json"
    assert html_path == tmp_path / "run" / "report.html"
    assert json.dumps(summary, default=str) == before  # the caller's dict is left alone
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert {"final_equity", "symbol_bars", "trades", "statistics"} <= doc.keys()
    assert doc["final_equity"] == 10_123_456
    assert len(doc["trades"]) == 5
    for row in doc["trades"]:
        assert row.keys() >= REQUIRED_TRADE_KEYS
        assert isinstance(row["pnl"], int) and isinstance(row["qty"], int)
    stats = doc["statistics"]
    assert stats["final_equity"] == rep.final_equity and isinstance(stats["final_equity"], int)
    assert stats["trades"] == 5
    assert stats["max_drawdown"] == pytest.approx(rep.max_drawdown)
    assert len(stats["daily"]) == rep.days
    assert doc["params"]["threshold"] == 0.5
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_missing_trades_and_infinite_profit_factor(tmp_path: Path) -> None:
    ts = [t for t in trades(20) if t.pnl > 0]
    rep = compute(curve(3), ts, 10_000_000)
    assert rep.profit_factor == float("inf")
    summary = {"symbol_bars": {}, "odd": float("nan")}
    json_path, html_path = write_report(tmp_path, summary, curve(3), ts, rep, "t")
    text = json_path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["statistics"]["profit_factor"] is None
    assert doc["odd"] is None
    assert doc["final_equity"] == rep.final_equity
    assert [r["symbol"] for r in doc["trades"]] == [t.symbol for t in ts]
    assert "∞" in html_path.read_text(encoding="utf-8")


# --- HTML -------------------------------------------------------------------------------------


def test_html_is_well_formed_offline_and_lists_every_trade(tmp_path: Path) -> None:
    ts = trades(300)
    eq = curve(400)
    rep = compute(eq, ts, 10_000_000)
    _, html_path = write_report(tmp_path, summary_of(ts), eq, ts, rep, "MA cross 5/20")
    text = html_path.read_text(encoding="utf-8")
    p = parse(text)
    assert {"html", "head", "style", "body", "table", "svg", "polyline"} <= p.tags
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
    assert "src=" not in text and "href=" not in text
    body, cells = "".join(p.text), set(p.text)
    for t in ts:
        assert t.symbol in cells
    assert "MA cross 5/20" in body
    assert "symbol_bars.005930" in body  # run parameters
    assert text.count("<polyline") == 2  # equity and drawdown


def test_all_text_is_escaped(tmp_path: Path) -> None:
    ts = [*trades(2), *trades(1, prefix='<b>&"x</b><script>')]
    eq = curve(10)
    rep = compute(eq, ts, 10_000_000)
    summary = {"note": "<i>hi</i>", "symbol_bars": {"<a>": 1}}
    _, html_path = write_report(tmp_path, summary, eq, ts, rep, "<script>alert(1)</script>")
    text = html_path.read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    p = parse(text)
    body = "".join(p.text)
    assert '<b>&"x</b><script>00000' in body
    assert "<script>alert(1)</script>" in body
    assert "<i>hi</i>" in body


def test_empty_run_still_renders() -> None:
    rep = compute([], [], 1_000)
    text = render_html({}, [], [], rep, "empty")
    parse(text)
    assert "No equity points" in text and "No closed trades" in text


def test_more_than_5000_trades_shows_the_first_and_last_2500() -> None:
    ts = trades(6_001)
    rep = compute(curve(5), ts, 10_000_000)
    text = render_html({}, curve(5), ts, rep, "many")
    p = parse(text)
    cells, body = set(p.text), "".join(p.text)
    shown = [t.symbol for t in ts if t.symbol in cells]
    assert shown == [t.symbol for t in ts[:2_500]] + [t.symbol for t in ts[-2_500:]]
    assert "1,001 trades not shown" in body
    assert "the first and the last 2,500 are shown" in body


def test_charts_are_downsampled() -> None:
    eq = curve(25_000, step=timedelta(minutes=1))
    rep = compute(eq, [], 10_000_000)
    text = render_html({}, eq, [], rep, "long")
    parse(text)
    for chunk in text.split("<polyline")[1:]:
        pts = chunk.split('points="', 1)[1].split('"', 1)[0].split()
        assert 2 <= len(pts) <= MAX_CHART_POINTS


def test_downsample_last() -> None:
    assert downsample_last(5) == [0, 1, 2, 3, 4]
    idx = downsample_last(2_500)
    assert len(idx) <= MAX_CHART_POINTS
    assert idx[0] == 0 and idx[-1] == 2_499
    assert idx == sorted(set(idx))
    assert downsample_last(0) == []


def test_downsample_minmax_keeps_the_extremes() -> None:
    values = [0.0] * 10_000
    values[4_321] = -37.5
    values[9_998] = 3.0
    idx = downsample_minmax(values)
    assert len(idx) <= MAX_CHART_POINTS
    assert idx == sorted(set(idx))
    assert 4_321 in idx and 9_998 in idx and idx[0] == 0
    assert downsample_minmax([1.0, 2.0]) == [0, 1]


def test_a_2500_point_curve_and_5000_trades_are_all_written(tmp_path: Path) -> None:
    eq = curve(2_500)
    ts = trades(5_000)
    rep = compute(eq, ts, 10_000_000)
    summary = summary_of(ts)
    json_path, html_path = write_report(tmp_path, summary, eq, ts, rep, "speed")
    assert json.loads(json_path.read_text(encoding="utf-8"))["statistics"]["trades"] == 5_000
    cells = set(parse(html_path.read_text(encoding="utf-8")).text)
    assert all(t.symbol in cells for t in ts)


def test_naive_timestamps_are_shown_as_given() -> None:
    eq = [EquityPoint(datetime(2024, 3, 4, 9, 0), 0, 0, 100, 0, 0, 0)]
    rep = compute(eq, [], 100)
    parse(render_html({}, eq, [], rep, "naive"))


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _json_values, max_size=6))
def test_summary_json_text_is_the_same_document(doc: dict[str, object]) -> None:
    assert json.loads(json_text(doc)) == doc
