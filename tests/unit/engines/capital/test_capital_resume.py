"""The capital step's documents across a restart: the windows document, its tail of the rows
appended since (ADR 0021) and a failed commit all give the running flow back."""

from __future__ import annotations

from typing import cast

from capital_kit import day, entry, flow, inputs

from qts.data.capital_journal import CAPITAL_WINDOWS_KEY, CAPITAL_WINDOWS_TAIL_KEY
from qts.data.memory import MemoryStore
from qts.engines.capital.flow import CapitalFlow
from qts.execution.oms import OrderManager
from qts.model.enums import OrderSide
from qts.pipeline.capital import TAIL_ROWS, CapitalStep

NO_OMS = cast(OrderManager, None)  # persist and restore never reach the OMS


def _days(f: CapitalFlow, store: MemoryStore, step: CapitalStep, first: int, last: int) -> None:
    for n in range(first, last):
        seq = 2 * n
        buy = entry(seq, OrderSide.BUY, 1, 10_000, day(n, 10), after=1)
        f.step(inputs(day(n, 10), f.last_equity - 10_000, entries=[buy]))
        with store.transaction():
            step.persist()
        sell = entry(seq + 1, OrderSide.SELL, 1, 10_400, day(n, 14), after=0, pnl=400)
        f.step(inputs(day(n, 14), f.last_equity + 10_400, entries=[sell]))
        with store.transaction():
            step.persist()


def test_a_restarted_step_restores_the_flow_from_the_windows_and_their_tail() -> None:
    store = MemoryStore()
    step = CapitalStep(flow().config, store, NO_OMS)
    f = step.flow = flow()
    _days(f, store, step, 1, 120)  # past the 95-day history window, several tails
    tail = store.load_state(CAPITAL_WINDOWS_TAIL_KEY)
    assert tail is not None and 0 < sum(map(len, tail["history"].values())) <= TAIL_ROWS
    again = CapitalStep(f.config, store, NO_OMS)
    assert again.flow is not None and again.flow.to_json() == f.to_json()
    assert again.flow.windows_json() == f.windows_json()
    # the restarted step holds no tail of its own: it writes the whole document first
    _days(again.flow, store, again, 120, 122)
    assert store.load_state(CAPITAL_WINDOWS_KEY) is not None
    third = CapitalStep(f.config, store, NO_OMS)
    assert third.flow is not None and third.flow.to_json() == again.flow.to_json()


def test_a_failed_commit_writes_the_whole_windows_again() -> None:
    store = MemoryStore()
    step = CapitalStep(flow().config, store, NO_OMS)
    f = step.flow = flow()
    _days(f, store, step, 1, 5)
    f.step(inputs(day(5, 10), f.last_equity))  # a new day: the pools' indices join
    try:
        with store.transaction():
            step.persist()
            raise RuntimeError("the commit fails")
    except RuntimeError:
        step.rolled_back()
    _days(f, store, step, 6, 8)
    again = CapitalStep(f.config, store, NO_OMS)
    assert again.flow is not None and again.flow.to_json() == f.to_json()
