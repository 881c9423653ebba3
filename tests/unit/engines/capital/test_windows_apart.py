"""The capital document without its windows, and the windows document beside it: restored
together they give the flow back exactly, and the windows move only with a trade or a day."""

from __future__ import annotations

import json

from capital_kit import day, entry, flow, inputs

from qts.engines.capital.flow import CapitalFlow, with_tail
from qts.model.enums import OrderSide


def _traded() -> CapitalFlow:
    f = flow()
    seq = 0
    for n in range(1, 8):
        seq += 1
        buy = entry(seq, OrderSide.BUY, 10, 50_000, day(n, 10), after=10)
        f.step(inputs(day(n, 10), f.last_equity - 500_000, entries=[buy]))
        seq += 1
        pnl = 20_000 if n % 2 else -15_000
        sell = entry(seq, OrderSide.SELL, 10, 50_000 + pnl // 10, day(n, 14), after=0, pnl=pnl)
        f.step(inputs(day(n, 14), f.last_equity + pnl, entries=[sell]))
    return f


def test_the_two_documents_restore_the_flow() -> None:
    f = _traded()
    assert any(f.trades.values()) and f.book is not None and f.book.pools
    memory, windows = f.to_json(windows=False), f.windows_json()
    assert "trades" not in memory
    assert all("history" not in p for p in memory["book"].values())
    state = f.machine.status.to_json()
    again = CapitalFlow.restore(f.config, state, memory, windows)
    assert again is not None and again.to_json() == f.to_json()


def test_a_document_with_its_windows_inside_still_restores() -> None:
    f = _traded()
    again = CapitalFlow.restore(f.config, f.machine.status.to_json(), f.to_json())
    assert again is not None and again.to_json() == f.to_json()


def test_the_windows_move_only_with_a_closed_trade_or_a_new_day() -> None:
    f = _traded()
    v = f.windows_version
    f.step(inputs(day(7, 15), f.last_equity))  # same day, nothing booked
    assert f.windows_version == v
    f.step(inputs(day(8, 9), f.last_equity))  # a new day: each pool's index joins its history
    assert f.windows_version > v
    v = f.windows_version
    buy = entry(100, OrderSide.BUY, 1, 10_000, day(8, 10), after=1)
    f.step(inputs(day(8, 10), f.last_equity - 10_000, entries=[buy]))
    assert f.windows_version == v  # an opening buy closes no trade
    sell = entry(101, OrderSide.SELL, 1, 11_000, day(8, 11), after=0, pnl=1_000)
    f.step(inputs(day(8, 11), f.last_equity + 11_000, entries=[sell]))
    assert f.windows_version == v + 1


def test_a_windows_document_and_its_tail_restore_the_flow() -> None:
    """The windows written on some day plus the rows appended after it (the tail, ADR 0021)
    give the flow back, windows cut to their sizes as the flow cuts them."""
    f = _traded()
    windows = f.windows_json()
    f.windows_saved()
    assert f.tail_rows == 0
    seq = 1_000
    for n in range(8, 110):  # past the 95-day history window
        seq += 1
        buy = entry(seq, OrderSide.BUY, 1, 10_000, day(n, 10), after=1)
        f.step(inputs(day(n, 10), f.last_equity - 10_000, entries=[buy]))
        seq += 1
        sell = entry(seq, OrderSide.SELL, 1, 10_500, day(n, 14), after=0, pnl=500)
        f.step(inputs(day(n, 14), f.last_equity + 10_500, entries=[sell]))
    assert f.tail_rows == 102 * 4
    state, memory = f.machine.status.to_json(), f.to_json(windows=False)
    tail = json.loads(json.dumps(f.tail_json()))  # as a store gives it back
    again = CapitalFlow.restore(f.config, state, memory, with_tail(windows, tail))
    assert again is not None and again.to_json() == f.to_json()
    assert again.windows_json() == f.windows_json()


def test_an_empty_tail_changes_nothing() -> None:
    f = _traded()
    windows = f.windows_json()
    f.windows_saved()
    assert with_tail(windows, f.tail_json()) == windows
