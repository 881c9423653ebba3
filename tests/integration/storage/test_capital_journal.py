"""The capital journal and the capital documents on every store adapter: what the running
process writes, ``qts capital`` / ``qts state`` and the dashboard read back."""

from __future__ import annotations

from datetime import timedelta

from storage_helpers import StoreFactory

from qts.core.errors import StorageError
from qts.core.time import kst
from qts.data.capital_journal import (
    CAPITAL_KEY,
    STATE_KEY,
    CapitalEventRecord,
    journal_for,
    read_capital,
)
from qts.engines.capital.config import CapitalConfig
from qts.engines.capital.flow import CapitalFlow, CycleInputs
from qts.model.enums import Track

T0 = kst(2026, 3, 2, 15, 30)
ZERO = {Track.SCALP: 0, Track.SWING: 0, Track.PORTFOLIO: 0}


def test_events_round_trip_by_kind_and_limit(store_factory: StoreFactory) -> None:
    store = store_factory()
    j = journal_for(store)
    rows = [
        CapitalEventRecord(T0 + timedelta(minutes=i), kind, {"n": i, "won": 10**12 + i})
        for i, kind in enumerate(["transition", "transfer", "transfer", "pools", "transfer"])
    ]
    j.record_capital_events(rows[:2])
    j.record_capital_events(rows[2:])
    assert j.load_capital_events() == rows
    assert [r.payload["n"] for r in j.load_capital_events("transfer")] == [1, 2, 4]
    assert [r.payload["n"] for r in j.load_capital_events("transfer", 2)] == [2, 4]
    assert j.load_capital_events("transfer", 0) == []
    assert all(r.ts.utcoffset() == timedelta(hours=9) for r in j.load_capital_events())


def test_a_rolled_back_transaction_keeps_no_event(store_factory: StoreFactory) -> None:
    store = store_factory()
    j = journal_for(store)
    j.record_capital_events([CapitalEventRecord(T0, "transfer", {"n": 1})])
    try:
        with store.transaction():
            j.record_capital_events([CapitalEventRecord(T0, "transfer", {"n": 2})])
            store.save_state(CAPITAL_KEY, {"x": 1})
            raise RuntimeError("crash inside the cycle's commit")
    except RuntimeError:
        pass
    except StorageError:  # an adapter may wrap it
        pass
    assert [r.payload["n"] for r in j.load_capital_events()] == [1]
    assert store.load_state(CAPITAL_KEY) is None


def test_the_flow_survives_a_reopen_through_its_documents(store_factory: StoreFactory) -> None:
    store = store_factory()
    config = CapitalConfig()
    flow = CapitalFlow.new(config, T0)
    out = flow.step(CycleInputs(T0, 100_000_000, dict(ZERO)))
    with store.transaction():
        store.save_state(STATE_KEY, flow.machine.status.to_json())
        doc = flow.to_json()
        doc["pools"] = {t.value: p.to_json() for t, p in out.view.pools.items()}
        store.save_state(CAPITAL_KEY, doc)
        journal_for(store).record_capital_events([CapitalEventRecord(T0, "pools", out.row)])
    if store_factory.kind.reopens:
        location = store_factory.directory / "store-0"
        store.close()
        store = store_factory.open(location)
    again = CapitalFlow.restore(config, store.load_state(STATE_KEY), store.load_state(CAPITAL_KEY))
    assert again is not None and again.to_json() == flow.to_json()
    assert again.machine.status.to_json() == flow.machine.status.to_json()
    r = read_capital(store)
    assert r.current_state == "BALANCED"
    assert r.pools["SWING"]["total_capital"] == 35_000_000
    assert sum(p["total_capital"] for p in r.pools.values()) == 100_000_000
