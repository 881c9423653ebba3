"""The memory store's equity columns behave as the dict they replace: one row per instant,
sorted by instant, a later row for the same instant (in any zone) replacing the earlier one,
and an impossible amount refused before anything moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.core.time import KST
from qts.data.equity_columns import EquityColumns

T0 = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
instants = st.integers(0, 50).map(lambda k: T0 + timedelta(seconds=k, microseconds=k % 3))
amounts = st.integers(-(2**63), 2**63 - 1)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), instants, amounts, st.booleans()),
        st.tuples(st.just("del"), instants, st.just(0), st.just(False)),
    ),
    max_size=60,
)


@given(ops)
def test_behaves_as_a_dict_keyed_by_instant(steps: list[tuple[str, datetime, int, bool]]) -> None:
    cols = EquityColumns()
    model: dict[datetime, tuple[Any, ...]] = {}
    for op, ts, amount, in_kst in steps:
        if op == "set":
            shown = ts.astimezone(KST) if in_kst else ts
            row = (shown, amount, 1, 2, 3, 4, 5)
            cols[ts] = row
            model[ts] = row
        elif ts in model:
            del cols[ts]
            del model[ts]
        else:
            with pytest.raises(KeyError):
                del cols[ts]
        assert len(cols) == len(model)
    assert list(cols) == sorted(model)
    assert [r[1:] for r in cols.rows()] == [model[k][1:] for k in sorted(model)]
    assert [r[0] for r in cols.rows()] == sorted(model)
    for k in model:
        assert cols.get(k) == (k, *model[k][1:])
    assert cols.get(T0 - timedelta(days=1), "none") == "none"


def test_an_amount_outside_int64_is_refused_before_anything_moves() -> None:
    cols = EquityColumns()
    cols[T0] = (T0, 1, 2, 3, 4, 5, 6)
    cols[T0 + timedelta(hours=2)] = (T0, 7, 8, 9, 10, 11, 12)
    with pytest.raises(OverflowError):
        cols[T0 + timedelta(hours=1)] = (T0, 2**63, 0, 0, 0, 0, 0)
    assert [r[1] for r in cols.rows()] == [1, 7]
