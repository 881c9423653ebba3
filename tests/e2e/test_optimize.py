"""qts optimize: the best of a sweep equals brute force over the same grid, a trial equals a
single ``qts backtest``, failures are recorded, and workers (local or Ray) change nothing."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run_qts as qts

from qts.backtest.optimize.executors import InlineExecutor, LocalExecutor
from qts.backtest.optimize.space import SearchSpace
from qts.backtest.optimize.sweep import run_sweep
from qts.backtest.optimize.trial import BacktestSetup, TrialJob, evaluate
from qts.backtest.optimize.walk_forward import make_windows, run_walk_forward
from qts.feeds.csv_loader import load_paths

DATA = Path(__file__).resolve().parents[1] / "data"
SP500 = DATA / "sp500_daily_1999_2018.csv"
BARS = 400


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first BARS days of the S&P 500 series: small enough for dozens of trials."""
    lines = SP500.read_text().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("data") / "SPX.csv"
    path.write_text("".join(lines[: BARS + 1]))
    return path


SETUP = BacktestSetup("sma_cross", {"qty": 10}, 100_000_000, "krx", "sharpe")
SPACE = SearchSpace.parse(["fast=4:10:2", "slow=10:30:10"])


def test_grid_sweep_best_equals_brute_force_and_records_the_failing_trial(
    data_file: Path,
) -> None:
    series = load_paths([data_file], price_scale=100)
    brute = [evaluate(series, SETUP, TrialJob(i, p)) for i, p in enumerate(SPACE.grid())]
    ok = [o for o in brute if o.ok]
    assert len(ok) < len(brute), "fast=10, slow=10 must fail (fast must be below slow)"
    expected = max(ok, key=lambda o: (o.value, -o.number))

    executor = LocalExecutor(series, SETUP, workers=2)
    try:
        result = run_sweep(SPACE, executor, trials=None)
    finally:
        executor.close()
    assert result.sampler == "grid"
    assert len(result.outcomes) == SPACE.grid_size
    assert result.best is not None
    assert result.best.params == expected.params
    assert result.best.value == expected.value
    by_params = {tuple(o.params.values()): o for o in result.outcomes}
    for o in brute:
        got = by_params[tuple(o.params.values())]
        assert (got.value, got.final_equity, got.trades) == (o.value, o.final_equity, o.trades)
        assert (got.error is None) == (o.error is None)
    failed = [o for o in result.outcomes if not o.ok]
    assert failed and all(o.params["fast"] >= o.params["slow"] for o in failed)


def test_tpe_runs_the_budget_and_is_reproducible(data_file: Path) -> None:
    series = load_paths([data_file], price_scale=100)
    space = SearchSpace.parse(["fast=3:12", "slow=15:40"])
    runs = []
    for _ in range(2):
        result = run_sweep(space, InlineExecutor(series, SETUP), trials=6, seed=3)
        runs.append([(o.params, o.value) for o in result.outcomes])
        assert result.sampler == "tpe" and len(result.outcomes) == 6
    assert runs[0] == runs[1]


def test_walk_forward_trades_each_windows_best_out_of_sample(data_file: Path) -> None:
    series = load_paths([data_file], price_scale=100)
    windows = make_windows(series, 200, 100)
    assert [w.index for w in windows] == [0, 1]
    assert windows[0].test_end == windows[1].test_start and windows[1].test_end is None
    assert windows[0].train_start < windows[1].train_start < windows[0].test_start
    wf = run_walk_forward(SPACE, InlineExecutor(series, SETUP), windows, None, 0)
    for w in wf.windows:
        assert w.sweep.best is not None and w.test is not None and w.test.ok
        assert w.test.params == w.sweep.best.params
        assert all(w.window.test_start <= ts for ts, _ in w.test.equity)
    curve = wf.equity(SETUP.cash)
    assert curve and all(a[0] < b[0] for a, b in itertools.pairwise(curve))


def test_cli_sweep_writes_results_and_its_best_trial_equals_qts_backtest(
    data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    common = ["--data", str(data_file), "--price-scale", "100", "--strategy", "sma_cross",
              "--qty", "10", "--cash", "100000000", "--fees", "krx"]  # fmt: skip
    done = qts("optimize", *common, "--space", "fast=4:10:2", "--space", "slow=10:30:10",
               "--objective", "final_equity", "--workers", "2", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    best = json.loads((out / "best.json").read_text())
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == SPACE.grid_size
    assert any(r["error"] for r in rows)
    assert best["value"] == max(float(r["value"]) for r in rows if not r["error"])
    top = max((r for r in rows if not r["error"]), key=lambda r: float(r["value"]))
    assert {"fast": int(top["param_fast"]), "slow": int(top["param_slow"])} == best["params"]
    assert "<svg" in (out / "report.html").read_text() and "http" not in (
        out / "report.html"
    ).read_text().replace("http://www.w3.org/2000/svg", "")

    params = [f"--param={k}={v}" for k, v in best["params"].items()]
    single = qts("backtest", *common, *params, "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    summary = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert summary["final_equity"] == best["figures"]["final_equity"] == int(best["value"])
    assert len(summary["trades"]) == best["figures"]["trades"]


def test_the_period_the_index_and_no_pools_reach_every_trial(tmp_path: Path) -> None:
    """``--start/--end``, ``--index`` and ``--no-capital`` mean in a sweep what they mean in
    ``qts backtest``: each trial equals that backtest, and each option changes the result
    (30 shares of 10 M won bind the pools; the VIX moves the operating state)."""
    vix = DATA / "vix_daily_2014_2019.csv"
    common = ["--data", str(SP500), "--price-scale", "100", "--strategy", "sma_cross",
              "--qty", "30", "--cash", "10000000", "--fees", "krx",
              "--start", "2015-01-02", "--end", "2016-06-30"]  # fmt: skip
    results = {}
    for name, extra in (("pools", []), ("index", ["--index", str(vix)]),
                        ("whole", ["--no-capital"])):  # fmt: skip
        out = tmp_path / name
        done = qts("optimize", *common, *extra, "--space", "fast=5,10", "--space", "slow=30",
                   "--objective", "final_equity", "--workers", "1", "--out", str(out))  # fmt: skip
        assert done.returncode == 0, done.stderr
        rows = {r["param_fast"]: r for r in csv.DictReader((out / "trials.csv").open())}
        for fast, row in rows.items():
            single = tmp_path / f"{name}-{fast}"
            run = qts("backtest", *common, *extra, "--param", f"fast={fast}", "--param",
                      "slow=30", "--out", str(single))  # fmt: skip
            assert run.returncode == 0, run.stderr
            summary = json.loads((single / "summary.json").read_text())
            assert int(row["final_equity"]) == summary["final_equity"]
            assert int(row["trades"]) == len(summary["trades"])
            assert summary["trades"][0]["entry_time"] >= "2015-01-02"
        results[name] = rows["10"]["final_equity"]
        best = json.loads((out / "best.json").read_text())
        assert (best["start"], best["end"]) == ("2015-01-02", "2016-06-30")
        assert best["capital"] is (name != "whole")
        assert best["index"] == (str(vix) if name == "index" else None)
    assert len(set(results.values())) == 3, results


def test_cli_refuses_bad_spaces_without_a_traceback(data_file: Path, tmp_path: Path) -> None:
    for space, words in (("fast=9:5", "--space"), ("nosuch=1:3", "not a parameter")):
        done = qts("optimize", "--data", str(data_file), "--price-scale", "100", "--strategy",
                   "sma_cross", "--space", space, "--out", str(tmp_path / "x"))  # fmt: skip
        assert done.returncode != 0
        assert words in done.stderr and "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_sweep_on_a_local_ray_cluster_equals_the_local_sweep(
    data_file: Path, tmp_path: Path
) -> None:
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    port = _free_port()
    temp = Path("/tmp") / f"qts-ray-{port}"  # Ray's socket paths must stay short
    start = subprocess.run(
        [str(ray_bin), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}", "--object-store-memory=100000000"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        assert start.returncode == 0, start.stderr
        common = ["--data", str(data_file), "--price-scale", "100", "--strategy", "sma_cross",
                  "--qty", "10", "--space", "fast=4:10:2", "--space", "slow=10:30:10"]  # fmt: skip
        on_ray = qts(
            "optimize", *common, "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "r")
        )
        assert on_ray.returncode == 0, on_ray.stderr
        local = qts("optimize", *common, "--workers", "1", "--out", str(tmp_path / "l"))
        assert local.returncode == 0, local.stderr
        ray_best = json.loads((tmp_path / "r" / "best.json").read_text())
        local_best = json.loads((tmp_path / "l" / "best.json").read_text())
        assert ray_best["ray"] == f"127.0.0.1:{port}"
        assert ray_best["params"] == local_best["params"]
        assert ray_best["figures"] == local_best["figures"]
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, check=False)
        shutil.rmtree(temp, ignore_errors=True)
