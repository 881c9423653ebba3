"""The scalp timer's ticks coalesce behind a slow P0 handler.

A tick means "look now": while one is still queued another adds nothing. Before, a P0 handler
held up by broker calls at the rate limit let the 100 ms timer fill the P0 queue (FS110) and
made a stop wait for dozens of queued ticks.
"""

from __future__ import annotations

from datetime import date, time

from qts.app.wiring import build_engine
from qts.core.time import at
from qts.engines.risk import RiskLimits
from qts.events import InlineDispatcher
from qts.model.frame import Universe
from qts.model.instrument import Instrument

SYMBOL = "005930"


def test_a_queued_tick_absorbs_the_next_ones() -> None:
    engine = build_engine(
        run_id="ticks", mode="paper", universe=Universe((SYMBOL,)),
        instruments={SYMBOL: Instrument.krx(SYMBOL)}, strategies=[], initial_cash=10_000_000,
        fees="krx", limits=RiskLimits(), start=at(date(2026, 3, 4), time(9, 0)), db=None,
        durable=False, participation=1.0, latency_ms=0, scalp=True,
    )  # fmt: skip
    try:
        scalp, dispatcher = engine.scalp, engine.spine.dispatcher
        assert scalp is not None and isinstance(dispatcher, InlineDispatcher)
        seen: list[int] = []
        scalp.on_time = lambda now: seen.append(1)  # type: ignore[method-assign]
        assert scalp.publish_tick()
        assert [scalp.publish_tick() for _ in range(50)] == [False] * 50  # the P0 handler is busy
        assert dispatcher.drain() == 1 and seen == [1]
        assert scalp.publish_tick()  # handled: the next tick queues again
        assert dispatcher.drain() == 1 and seen == [1, 1]
    finally:
        engine.close()
