"""The feedback loop's adapter on real SQLite: rows stored at once, visible to decisions from
the next minute boundary, read back after a restart, and a failing store never stops anything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from qts.core.time import kst
from qts.data.feedback import FeedbackLoop
from qts.data.sqlite_market import SqliteMarketStore
from qts.engines.feedback import ExecutionMeasure

T0 = kst(2026, 3, 4, 10, 0, 30)


def row(t: object, slip: float, symbol: str = "005930", oid: str = "o") -> ExecutionMeasure:
    return ExecutionMeasure(t, symbol, oid, "scalp_reversion", slip, 40.0, 1.0, 0.9, 2.0)  # type: ignore[arg-type]


def test_rows_become_visible_at_the_next_minute_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    loop = FeedbackLoop(SqliteMarketStore(path))
    loop.tick(T0)
    assert loop.summary("005930", "scalp_reversion").samples == 0  # the §12.8 defaults
    assert loop.summary("005930", "scalp_reversion").avg_slippage_bps == 10.0
    loop.record(row(T0 + timedelta(seconds=5), 4.0, oid="a"))
    loop.record(row(T0 + timedelta(seconds=10), 8.0, oid="b"))
    loop.tick(T0 + timedelta(seconds=20))  # same minute: not yet aggregated
    assert loop.summary("005930", "scalp_reversion").samples == 0
    loop.tick(T0 + timedelta(seconds=31))  # 10:01:01 — the 10:01 batch
    s = loop.summary("005930", "scalp_reversion")
    assert (s.samples, s.avg_slippage_bps) == (2, 6.0)
    assert loop.summary("000660", "scalp_reversion").samples == 0
    assert loop.stored == 2
    loop.store.close()  # type: ignore[union-attr]

    again = FeedbackLoop(SqliteMarketStore(path))
    again.load(T0 - timedelta(hours=1))  # a resumed run reads what the first one stored
    again.tick(T0 + timedelta(seconds=31))
    assert again.summary("005930", "scalp_reversion").avg_slippage_bps == 6.0
    stored = again.store.feedback(T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))  # type: ignore[union-attr]
    assert [r.order_id for r in stored] == ["a", "b"]
    assert stored[0].fill_ratio == 1.0 and stored[0].quality_score == 0.9
    again.store.close()  # type: ignore[union-attr]


def test_a_failing_store_is_logged_and_retried_never_raised(tmp_path: Path) -> None:
    store = SqliteMarketStore(tmp_path / "m.sqlite")
    store.close()  # every call now fails
    loop = FeedbackLoop(store)
    loop.load(T0)
    loop.record(row(T0, 3.0))  # does not raise
    assert loop.failures == 2 and len(loop.pending) == 1
    loop.tick(T0 + timedelta(minutes=1))
    assert loop.summary("005930", "scalp_reversion").samples == 1  # still used in memory
    assert loop.failures == 3 and len(loop.pending) == 1
