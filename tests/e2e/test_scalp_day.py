"""A scalp morning in `qts run` (paper, in process): scalp_reversion's orders go through the
execution pipeline on the simulated book; the status panel and the end-of-run report show mean
slippage and quality; the measures are in feedback_data next to the run's books."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from qts.app.paper import run_paper
from qts.cli.status import StatusConsole
from qts.config import load_config
from qts.data.sqlite_market import SqliteMarketStore
from qts.execution.stages.state import ExecState


def test_scalp_morning_shows_slippage_and_quality(tmp_path: Path) -> None:
    cfg = load_config(env={}).config
    db = tmp_path / "day.sqlite"
    out = io.StringIO()
    status = StatusConsole(Console(file=out, width=200), every=timedelta(minutes=30))
    run = run_paper(cfg, db, None, timedelta(hours=4), status.on_cycle, None, status.attach)
    engine = run.engine
    try:
        scalp = engine.scalp
        assert scalp is not None
        done = scalp.pipeline.finished
        assert len(done) >= 5 and all(e.strategy == "scalp_reversion" for e in done)
        assert all(e.state in (ExecState.COMPLETE, ExecState.ESCAPED) for e in done)
        scalp_fills = [f for f in engine.store.load_fills() if "." in f.client_order_id]
        assert scalp_fills  # slices of executions, booked like any order
        panel = Console(file=io.StringIO(), width=200)
        panel.print(status.panel())
        text = panel.file.getvalue()  # type: ignore[attr-defined]
        assert "scalp execution:" in text and "mean slippage" in text and "quality" in text
        assert "trading on " in text
        # the head says what `qts safety status` says: a FAIL stops trading, the switch aside
        engine.runner.safety.report("FS040", "broker execution error")
        panel = Console(file=io.StringIO(), width=200)
        panel.print(status.panel())
        text = panel.file.getvalue()  # type: ignore[attr-defined]
        assert "safety FAIL  trading OFF (FAIL)" in text
        report = scalp.day_report()
        assert "mean slippage" in report and "quality" in report
        summary = scalp.feedback.overall()
        assert summary.samples == len(done)
    finally:
        engine.close()
    store = SqliteMarketStore(Path(f"{db}.market"))
    try:
        rows = store.feedback(run.start - timedelta(days=1), run.start + timedelta(days=1))
        assert len(rows) == len(done)
        assert {r.strategy_tag for r in rows} == {"scalp_reversion"}
        assert all(0.0 <= r.quality_score <= 1.0 and 0.0 <= r.fill_ratio <= 1.0 for r in rows)
    finally:
        store.close()
