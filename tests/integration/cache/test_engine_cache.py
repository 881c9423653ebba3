"""The cache wired into a paper run: the micro risk loop, the pre-trade gate and the cycle read
through it; a cache that is down from the start changes nothing but the alert (FS120)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from qts.app.cache import CachedPreCheckInputs
from qts.app.paper import run_paper
from qts.cache import Family
from qts.cache.devserver import free_port
from qts.config.loader import load_config
from qts.config.models import CacheSection, QtsConfig
from qts.data.ports import TradingStore
from qts.model.enums import OrderSide


def config(cache: CacheSection) -> QtsConfig:
    base = load_config(None, [], env={}).config
    return base.model_copy(update={"cache": cache})


def run(cache: CacheSection, db: Path) -> tuple[list[object], dict[str, object], TradingStore]:
    result = run_paper(config(cache), db, None, timedelta(hours=3))
    engine = result.engine
    report = engine.cache.report()
    ledger: list[object] = [e.as_row() for e in engine.store.load_ledger()]
    engine.spine.stop()
    engine.cache.close()
    return ledger, report, engine.store


def test_a_paper_run_reads_prices_positions_and_risk_through_the_cache(tmp_path: Path) -> None:
    ledger, report, store = run(CacheSection(backend="memory"), tmp_path / "m.sqlite")
    try:
        assert len(ledger) > 0
        price, pos, risk = report["price"], report["pos"], report["risk"]
        assert isinstance(price, dict) and isinstance(pos, dict) and isinstance(risk, dict)
        # the micro loop (held symbols every bar) and the gate (each order) read prices
        assert price["reads"] > 50 and price["hit_rate"] == 1.0
        # the shadow's positions come back through the cache after every fill
        assert pos["reads"] >= len(ledger) and pos["hit_rate"] == 1.0
        # the gate reads risk:account once per cycle
        assert risk["reads"] > 100 and risk["hit_rate"] == 1.0
        assert report["breaker_opened"] == 0
    finally:
        store.close()


def test_redis_down_from_the_start_trades_the_same_from_the_store_and_raises_fs120(
    tmp_path: Path,
) -> None:
    reference, _, ref_store = run(CacheSection(backend="memory"), tmp_path / "m.sqlite")
    ref_store.close()
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    ledger, report, store = run(
        CacheSection(backend="redis", url=dead, prefix="qts-dead:"), tmp_path / "r.sqlite"
    )
    try:
        assert ledger == reference
        assert report["breaker_opened"] >= 1
        price = report["price"]
        assert isinstance(price, dict) and price["hits"] == 0 and price["bypassed"] > 0
        codes = [e.code for e in store.load_safety_events()]
        assert "FS120" in codes
    finally:
        store.close()


def test_the_scalp_precheck_reads_through_the_cache(tmp_path: Path) -> None:
    result = run_paper(
        config(CacheSection(backend="memory")), tmp_path / "s.sqlite", None, timedelta(hours=1)
    )
    engine = result.engine
    try:
        assert engine.scalp is not None
        inputs = engine.scalp.pipeline.inputs
        assert isinstance(inputs, CachedPreCheckInputs)
        fams = engine.cache.manager.metrics.families
        symbol = engine.oms.universe.symbols[0]
        reads = fams[Family.POSITION].reads
        assert inputs.position_qty(symbol) == engine.oms.account.held_qty(symbol)
        assert fams[Family.POSITION].reads == reads + 1
        assert inputs.risk_check("999999", OrderSide.SELL, 1, 1_000) == "no current price:999999"
        reads = fams[Family.PRICE].reads
        assert inputs.risk_check(symbol, OrderSide.SELL, 1, 1_000) == ""
        assert fams[Family.PRICE].reads == reads + 1
    finally:
        engine.close()
