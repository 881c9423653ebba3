"""Property: whatever interleaving of trading, outages, lost acknowledgements, transactions,
restarts and flushes happens, the hybrid store's reads always equal what was written, and
after recovery both sides are equal to it and to each other (nothing lost, nothing doubled)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hybrid_helpers import Clock, FlakyStore, Link
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from storage_helpers import META, T0, Trader, assert_store_matches

from qts.data import AccountState, DecisionRecord, EquityPoint, SqliteStore
from qts.data.hybrid import DB, SHEETS, DataSourceMode, HybridStore, Outbox, compare_stores
from qts.data.ports import SafetyEventRecord
from qts.model import Order, OrderSide, OrderStatus

sides = st.sampled_from([SHEETS, DB])
symbols = st.sampled_from(["005930", "000660", "035420"])
index = st.integers(0, 1_000)
_runs = itertools.count()


class HybridMachine(RuleBasedStateMachine):
    """At most one side is down at a time (with both down a write must fail, which the model
    would have to undo); a lost acknowledgement can hit either side at any commit."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.dir = directory / f"run-{next(_runs)}"
        self.dir.mkdir()
        self.links = {SHEETS: Link(SHEETS), DB: Link(DB)}
        self.clock = Clock()
        self.mode = DataSourceMode.DUAL_WRITE
        self.store = self._open()
        self.store.init_run(META)
        self.trader = Trader(self.store)
        self.store.save_account(AccountState(self.trader.account.cash, {}))
        self.decisions: list[DecisionRecord] = []
        self.events: list[SafetyEventRecord] = []
        self.equity: dict[Any, EquityPoint] = {}
        self.state: dict[str, dict[str, Any]] = {}
        self.n = 0

    def _open(self) -> HybridStore:
        return HybridStore(
            FlakyStore(SqliteStore(self.dir / "sheets.sqlite", durable=False), self.links[SHEETS]),
            FlakyStore(SqliteStore(self.dir / "db.sqlite", durable=False), self.links[DB]),
            Outbox(self.dir / "qts.outbox", durable=False),
            self.mode,
            clock=self.clock,
        )

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _working(self) -> list[Order]:
        return [o for o in self.trader.orders.values() if o.status.is_open]

    # ---------------------------------------------------------------- trading

    @rule(symbol=symbols, qty=st.integers(1, 20), parts=st.integers(1, 3))
    def buy(self, symbol: str, qty: int, parts: int) -> None:
        order = self.trader.new_order(symbol, OrderSide.BUY, qty * parts + 1, 50_000)
        self.trader.submit(order)
        for i in range(parts):
            self.trader.fill(order, qty, 50_000 - 10 * i)

    @precondition(lambda self: self._working())
    @rule(i=index, qty=st.integers(1, 20))
    def fill(self, i: int, qty: int) -> None:
        working = self._working()
        order = working[i % len(working)]
        qty = min(qty, order.remaining)
        if order.side is OrderSide.SELL:
            qty = min(qty, self.trader.account.held_qty(order.symbol))
        if qty > 0:
            self.trader.fill(order, qty, 51_000)

    @precondition(lambda self: self.trader.account.open_positions())
    @rule(i=index)
    def sell(self, i: int) -> None:
        held = self.trader.account.open_positions()
        position = held[i % len(held)]
        order = self.trader.new_order(position.symbol, OrderSide.SELL, position.qty)
        self.trader.submit(order)

    @precondition(lambda self: [o for o in self.trader.orders.values() if not o.status.is_terminal])
    @rule(i=index)
    def cancel(self, i: int) -> None:
        live = [o for o in self.trader.orders.values() if o.status is not OrderStatus.FILLED]
        live = [o for o in live if not o.status.is_terminal]
        order = live[i % len(live)]
        order.cancel("test", self.trader.now())
        self.store.save_order(order)

    @rule(rows=st.integers(1, 3))
    def decide(self, rows: int) -> None:
        n = self._next()
        batch = [
            DecisionRecord(T0, f"c{n}", f"{r:06d}", "BUY", metadata={"n": n}) for r in range(rows)
        ]
        self.store.record_decisions(batch)
        self.decisions += batch

    @rule(slot=st.integers(0, 3))
    def equity_point(self, slot: int) -> None:
        point = EquityPoint(T0.replace(minute=slot), self._next(), 0, 0, 0, 0, 0)
        self.store.record_equity(point)
        self.equity[point.ts] = point

    @rule()
    def safety_event(self) -> None:
        event = SafetyEventRecord(T0, "report", f"FS{self._next()}", "m", "NORMAL", "WARNING")
        self.store.record_safety_event(event)
        self.events.append(event)

    @rule(key=st.sampled_from(["checkpoint", "failsafe", "a"]))
    def save_state(self, key: str) -> None:
        doc = {"n": self._next()}
        self.store.save_state(key, doc)
        self.state[key] = doc

    @rule(fail=st.booleans(), inner_fails=st.booleans())
    def cycle(self, fail: bool, inner_fails: bool) -> None:
        """A cycle's writes in one transaction, a nested block in it; either may raise."""
        n = self._next()
        decision = DecisionRecord(T0, f"tx{n}", "005930", "HOLD")
        try:
            with self.store.transaction():
                self.store.record_decisions([decision])
                self.store.save_state("checkpoint", {"tx": n})
                try:
                    with self.store.transaction():
                        self.store.save_state("a", {"inner": n})
                        if inner_fails:
                            raise KeyError("inner")
                except KeyError:
                    pass
                if fail:
                    raise ValueError("cycle")
        except ValueError:
            return
        self.decisions.append(decision)
        self.state["checkpoint"] = {"tx": n}
        if not inner_fails:
            self.state["a"] = {"inner": n}

    # ---------------------------------------------------------------- faults and recovery

    @precondition(lambda self: not any(link.down for link in self.links.values()))
    @rule(side=sides)
    def outage(self, side: str) -> None:
        self.links[side].down = True

    @rule(side=sides)
    def back_up(self, side: str) -> None:
        self.links[side].down = False

    @rule(side=sides)
    def lose_next_ack(self, side: str) -> None:
        self.links[side].lose_acks = 1

    @rule()
    def time_passes(self) -> None:
        self.clock.advance(120)

    @rule()
    def flush(self) -> None:
        self.store.flush()

    @rule(mode=st.sampled_from([DataSourceMode.DUAL_WRITE, DataSourceMode.DB_PRIMARY]))
    def switch_primary(self, mode: DataSourceMode) -> None:
        self.mode = mode
        self.store.set_mode(mode)

    @rule()
    def restart(self) -> None:
        """The process stops (pending writes stay in the outbox) and starts again."""
        self.store.close()
        self.store = self._open()
        self.trader.store = self.store

    # ---------------------------------------------------------------- checks

    def assert_matches(self, store: Any) -> None:
        assert_store_matches(store, self.trader)
        assert store.load_decisions() == self.decisions
        assert store.load_safety_events() == self.events
        assert store.load_equity() == sorted(self.equity.values(), key=lambda p: p.ts)
        for key, doc in self.state.items():
            assert store.load_state(key) == doc

    @invariant()
    def reads_equal_what_was_written(self) -> None:
        self.assert_matches(self.store)

    def teardown(self) -> None:
        for link in self.links.values():
            link.down = False
            link.lose_acks = 0
        store = self.store
        assert store.flush() == {SHEETS: 0, DB: 0}
        sheets = store.target(SHEETS).inner  # type: ignore[attr-defined]
        db = store.target(DB).inner  # type: ignore[attr-defined]
        report = compare_stores(sheets, db, state_keys=store.outbox.state_keys())
        assert report.differences == []
        self.assert_matches(sheets)
        self.assert_matches(db)
        store.close()


def test_any_interleaving_of_failures_and_flushes_ends_with_equal_stores(tmp_path: Path) -> None:
    class OnTmp(HybridMachine):
        def __init__(self) -> None:
            super().__init__(tmp_path)

    run_state_machine_as_test(
        OnTmp, settings=settings(max_examples=100, stateful_step_count=50, deadline=None)
    )
