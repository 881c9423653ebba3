"""The dashboard over a store: the view agrees with the books, the token gate, the binding rule,
and the recovery approval recorded exactly as ``qts safety approve-recovery`` records it."""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from qts.app.paper import run_paper
from qts.config.loader import load_config
from qts.core.errors import ConfigError
from qts.data.capital_journal import read_capital
from qts.data.sqlite import SqliteStore
from qts.safety.state import SafetyState, SafetyStatus
from qts.safety.supervisor import REQUEST_KEY, STATE_KEY
from qts.ui.app import create_app
from qts.ui.cache import ViewCache
from qts.ui.server import DashboardServer, check_binding
from qts.ui.view import ViewBuilder

with warnings.catch_warnings():  # starlette prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def run_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("dash") / "run.sqlite"
    result = run_paper(load_config(None, []).config, db, None, timedelta(hours=4))
    result.engine.close()
    return db


def _cache(db: Path) -> ViewCache:
    return ViewCache(ViewBuilder(SqliteStore(str(db))), max_age_s=0.0, min_interval_s=0.0)


def test_view_agrees_with_the_books(run_db: Path) -> None:
    store = SqliteStore(str(run_db))
    try:
        view = ViewBuilder(store).build()
        fills = store.load_fills()
        equity = store.load_equity()
        positions = {s: p for s, p in store.load_positions().items() if p.qty}
    finally:
        store.close()
    assert fills, "the seeded run must trade"
    assert view["counts"]["fills"] == len(fills)
    assert view["fills"][0]["id"] == fills[-1].fill_id  # newest first
    assert {p["symbol"] for p in view["positions"]} == set(positions)
    assert view["curve"]["equity"][-1] == equity[-1].equity
    peak, worst = 0, 0.0
    for p in equity:
        peak = max(peak, p.equity)
        worst = min(worst, (p.equity - peak) / peak)
    assert view["curve"]["max_drawdown"] == pytest.approx(worst, abs=1e-6)
    assert view["account"]["equity"] == view["account"]["cash"] + view["account"]["market_value"]
    assert all(d["reason"] for d in view["decisions"] if d["action"] != "HOLD")


def test_capital_panel_shows_the_state_and_every_pool(run_db: Path) -> None:
    """The pools are rows (pool, total, available, share, target) that sum to the stored total,
    in the order SCALP, SWING, PORTFOLIO; the state names its reason."""
    store = SqliteStore(str(run_db))
    try:
        capital = ViewBuilder(store).build()["capital"]
        readout = read_capital(store)
    finally:
        store.close()
    assert capital["state"] == readout.current_state
    assert capital["reason"]
    assert [p["pool"] for p in capital["pools"]] == ["SCALP", "SWING", "PORTFOLIO"]
    for row in capital["pools"]:
        stored = readout.pools[row["pool"]]
        assert row["total"] == stored["total_capital"]
        assert row["available"] == stored["available_capital"]
        assert row["target_pct"] == float(stored["target_allocation_pct"])
    assert sum(p["share_pct"] for p in capital["pools"]) == pytest.approx(1.0, abs=1e-3)


def test_capital_panel_is_absent_without_capital_flow(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "empty.sqlite"))
    try:
        assert ViewBuilder(store).build()["capital"] is None
    finally:
        store.close()


def test_token_gate(run_db: Path) -> None:
    app = create_app(_cache(run_db), token="s3cret-token")
    with TestClient(app) as client:
        assert client.get("/api/view").status_code == 401
        assert client.get("/metrics").status_code == 401
        r = client.get("/api/view", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and "s3cret" not in r.text
        assert client.get("/api/view", headers={"Authorization": "Bearer s3cret-token"}).is_success
        page = client.get("/?token=s3cret-token")
        assert page.is_success and "s3cret-token" not in page.text
        # the cookie set by the first visit carries the token for the page's own requests
        assert client.get("/api/view").is_success


def test_binding_elsewhere_needs_a_token(run_db: Path) -> None:
    check_binding("127.0.0.1", None)
    check_binding("::1", None)
    with pytest.raises(ConfigError, match="QTS_DASHBOARD_TOKEN"):
        check_binding("0.0.0.0", None)
    with pytest.raises(ConfigError):
        DashboardServer(_cache(run_db), host="0.0.0.0", port=0)


def test_page_loads_nothing_from_elsewhere(run_db: Path) -> None:
    with TestClient(create_app(_cache(run_db))) as client:
        html = client.get("/").text
    assert "<script src" not in html and "<link" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_recovery_approval_is_recorded_like_the_cli(tmp_path: Path, run_db: Path) -> None:
    db = tmp_path / "locked.sqlite"
    db.write_bytes(run_db.read_bytes())
    store = SqliteStore(str(db))
    app = create_app(ViewCache(ViewBuilder(store), max_age_s=0.0, min_interval_s=0.0))
    form = {"operator": "kim", "reason": "broker back, positions checked"}
    with TestClient(app) as client:
        assert client.post("/api/safety/approve-recovery", data=form).status_code == 400
        r = client.post("/api/safety/approve-recovery", data=form, headers={"X-QTS-Request": "1"})
        assert r.status_code == 409 and "not LOCKDOWN" in r.json()["error"]
        store.save_state(
            STATE_KEY, SafetyStatus(state=SafetyState.LOCKDOWN, last_code="FS040").to_json()
        )
        assert client.get("/api/view").json()["safety"]["needs_approval"] is True
        r = client.post("/api/safety/approve-recovery", data=form, headers={"X-QTS-Request": "1"})
        assert r.status_code == 200, r.text
        view = client.get("/api/view").json()
    request = store.load_state(REQUEST_KEY)
    store.close()
    assert request is not None and request["id"] == r.json()["request_id"]
    assert request["operator"] == "kim" and request["reason"] == form["reason"]
    assert view["safety"]["needs_approval"] is False
    assert view["safety"]["pending_approval"]["operator"] == "kim"
    assert view["safety"]["history"][0]["kind"] == "recovery_requested"
    # the CLI sees the same pending approval
    out = subprocess.run(
        [sys.executable, "-m", "qts", "safety", "status", "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "recovery approved by kim" in out


def test_standalone_dashboard_command_serves_a_store(run_db: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qts", "dashboard", "--db", str(run_db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split()[1]
        view = httpx.get(url + "api/view", timeout=10).json()
        assert view["counts"]["fills"] > 0 and view["live"] == {}
        health = httpx.get(url + "health", timeout=10).json()
        assert health["mode"] == "standalone" and health["checks"]["store"]["ok"]
        assert "qts_fills_total" in httpx.get(url + "metrics", timeout=10).text
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
