"""The report sheets (Strategy, Portfolio, Performance, Dividend, R_Dash) over the Sheets API
fake: written from the dashboard's view (same numbers), plain values only (Zero-Formula), one
batch write per change and none when nothing changed; and wired into a run through
``dashboard.sheets`` with the Sheets quota switched on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qts.app.operator import OperatorSurface
from qts.app.paper import run_paper
from qts.config.loader import load_config
from qts.config.ops import DashboardSection
from qts.data.sheets.client import SheetsClient
from qts.data.sheets.fake import FakeSheetsServer
from qts.data.sqlite import SqliteStore
from qts.engines.risk import RiskLimits
from qts.ui.cache import ViewCache
from qts.ui.report_sheets import TABS, ReportSheets
from qts.ui.view import ViewBuilder


@pytest.fixture(scope="module")
def day_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("rep") / "day.sqlite"
    cfg = load_config(None, []).config.model_copy(
        update={"dashboard": DashboardSection(enabled=False)}
    )
    run_paper(cfg, db, None, timedelta(hours=5)).engine.close()
    return db


def _cells(client: SheetsClient, tab: str, render: str) -> list[list[Any]]:
    return client.batch_get([f"'{tab}'!A1:Z120"], render=render)[0]


def test_tabs_hold_the_views_numbers_as_plain_values(
    client: SheetsClient, fake: FakeSheetsServer, day_db: Path
) -> None:
    store = SqliteStore(str(day_db))
    cache = ViewCache(ViewBuilder(store), max_age_s=60.0)
    limits = RiskLimits(max_exposure=0.8, max_symbol_weight=0.2, daily_loss_limit=0.03)
    writer = ReportSheets(client, cache, limits, lambda: datetime(2026, 1, 5, 7, tzinfo=UTC))
    before = fake.stats.writes
    assert writer.write() is True
    writes_first = fake.stats.writes - before
    assert writes_first == 2  # the tabs added once, then one values:batchUpdate for all five
    assert writer.write() is False and fake.stats.writes - before == writes_first
    view = cache.get()
    titles = set(client.metadata().by_title())
    assert set(TABS) <= titles
    for tab in TABS:
        formulas = _cells(client, tab, "FORMULA")
        assert formulas, tab
        assert not any(str(v).startswith("=") for row in formulas for v in row), tab
    portfolio = _cells(client, "Portfolio", "UNFORMATTED_VALUE")
    assert portfolio[1][0] == "total_equity" and portfolio[1][1] == view["account"]["equity"]
    assert portfolio[1][3] == view["account"]["day_pnl"]
    rdash = _cells(client, "R_Dash", "UNFORMATTED_VALUE")
    assert rdash[1][:5] == [
        "KillSwitch_State",
        "Exposure_Level",
        "Daily_Loss_Cap",
        "Portfolio_MDD",
        "Final_Risk_Level",
    ]
    assert rdash[2][0] == "OFF" and rdash[2][2] == 0.03
    assert rdash[2][3] == view["curve"]["max_drawdown"]
    assert rdash[6][0] == view["account"]["day_pnl"]
    strategy = _cells(client, "Strategy", "UNFORMATTED_VALUE")
    assert strategy[0][:5] == ["Strategy", "Trades", "Win_Rate", "Total_PnL", "Avg_PnL"]
    by_name = {r[0]: r for r in strategy[1:]}
    for s in view["strategies"]:
        assert by_name[s["strategy"]][1] == s["trades"]
        assert by_name[s["strategy"]][3] == s["pnl"]
    store.close()


def test_a_run_writes_the_report_sheets_within_the_quota(
    connect: Callable[..., SheetsClient],
    fake: FakeSheetsServer,
    key_file: Path,
    sheet_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_SHEET_KEY", sheet_key)
    monkeypatch.setenv("GOOGLE_CREDENTIALS_FILE", str(key_file))
    monkeypatch.setenv("QTS_SHEETS_API_BASE", fake.base_url)
    cfg = load_config(None, []).config
    cfg = cfg.model_copy(
        update={"dashboard": DashboardSection(enabled=False, sheets=True, sheets_interval_s=2.0)}
    )
    surface = OperatorSurface(cfg, echo=lambda _m: None)
    before = fake.stats.writes
    result = run_paper(
        cfg, tmp_path / "r.sqlite", None, timedelta(hours=3), on_ready=surface.attach
    )
    writer = surface.report_sheets
    assert writer is not None
    surface.close()  # writes the final state
    fills = len(result.engine.store.load_fills())
    equity = result.engine.store.load_equity()[-1].equity
    result.engine.close()
    assert writer.failures == 0 and writer.writes >= 1
    # at most one write per interval plus the tabs and the final write: far below 60 a minute
    assert fake.stats.writes - before <= writer.writes + 1
    check = connect()
    portfolio = _cells(check, "Portfolio", "UNFORMATTED_VALUE")
    assert portfolio[1][1] == equity
    rdash = _cells(check, "R_Dash", "UNFORMATTED_VALUE")
    assert rdash[18][5] == fills
