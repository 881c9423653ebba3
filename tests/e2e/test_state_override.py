"""`qts state set` on a run's database is recorded, and the run applies it at its next cycle;
`qts state` / `qts capital` show the result (issue 11)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from cli_run import run_qts

from qts.data.ports import CHECKPOINT_KEY
from qts.data.sqlite import SqliteStore

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


qts = partial(run_qts, env=ENV)


def test_override_is_applied_by_the_running_process(tmp_path: Path) -> None:
    db = tmp_path / "day.sqlite"
    first = qts("run", "--seed", "7", "--speed", "max", "--for", "1d", "--db", str(db))
    assert first.returncode == 0, first.stderr
    status = qts("state", "status", "--db", str(db))
    assert status.returncode == 0 and status.stdout.startswith("state: BALANCED"), status.stdout
    pools = qts("capital", "status", "--db", str(db))
    assert pools.returncode == 0, pools.stderr
    assert "SCALP" in pools.stdout and "PORTFOLIO" in pools.stdout and "total" in pools.stdout
    # the paper run lives on its simulated clock: --until is measured against its last cycle
    store = SqliteStore(str(db))
    clock = datetime.fromisoformat(store.load_state(CHECKPOINT_KEY)["ts"])
    store.close()
    assert abs(clock - datetime.now(UTC)) > timedelta(days=8)  # else this test proves nothing
    at = partial(_at, clock)
    until, too_far, past = at(days=2), at(days=8), at(hours=-1)
    refused = qts("state", "set", "DEFENSIVE", "--db", str(db), "--until", too_far,
                  "--reason", "x")  # fmt: skip
    assert refused.returncode != 0 and "7 days" in refused.stderr
    assert f"the run's clock: its last cycle was at {clock.isoformat()}" in refused.stderr
    refused = qts("state", "set", "DEFENSIVE", "--db", str(db), "--until", past, "--reason", "x")
    assert refused.returncode != 0 and "not in the future" in refused.stderr
    ok = qts("state", "set", "DEFENSIVE", "--db", str(db), "--until", until,
             "--reason", "earnings week", "--operator", "kim")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "applied when the run next cycles" in qts("state", "status", "--db", str(db)).stdout
    second = qts("run", "--seed", "7", "--speed", "max", "--for", "2d", "--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "state DEFENSIVE" in second.stdout  # the status panel
    history = qts("state", "history", "--db", str(db)).stdout
    assert "BALANCED->DEFENSIVE" in history and "manual" in history and "[kim]" in history
    assert "earnings week" in history
    status = qts("state", "status", "--db", str(db)).stdout
    assert status.startswith("state: DEFENSIVE") and "manual override by kim" in status
    # entering DEFENSIVE set new targets: the rebalancer moved money toward PORTFOLIO
    moves = qts("capital", "history", "--db", str(db)).stdout
    assert "REBALANCE" in moves and "->PORTFOLIO" in moves


def _at(clock: datetime, **delta: float) -> str:
    return (clock + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M%z")


def test_pool_days_survive_a_restart(tmp_path: Path) -> None:
    """A day's pool row is journaled when the next day starts; a restart in between used to lose
    it (the row was held by the process only), so ``--days`` showed no history at all."""
    db = tmp_path / "day.sqlite"
    for days in ("1d", "2d"):
        run = qts("run", "--seed", "7", "--speed", "max", "--for", days, "--db", str(db))
        assert run.returncode == 0, run.stderr
    rows = qts("capital", "history", "--days", "--db", str(db)).stdout.splitlines()
    assert len(rows) == 2, rows
    first, last = rows
    assert not first.endswith("(last cycle)") and last.endswith("(last cycle)")
    assert first[:10] < last[:10]  # ISO dates, one row a trading day
    for row in rows:
        assert " equity " in row and ("BALANCED" in row or "DEFENSIVE" in row)
    again = qts("run", "--seed", "7", "--speed", "max", "--for", "2d", "--db", str(db))
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stdout.split())
    assert "0 cycles" in said and "give a longer --for to go on" in said, again.stdout
