"""``unique_ints`` (the feeds' and caches' stand-in for ``np.unique``) gives what ``np.unique``
gives for any int64 array."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qts.core.arrays import unique_ints

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(st.lists(st.one_of(st.integers(-3, 3), INT64), max_size=60))
def test_same_as_np_unique(values: list[int]) -> None:
    a = np.array(values, dtype=np.int64)
    before = a.copy()
    got = unique_ints(a)
    want = np.unique(a)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
    assert a.tolist() == before.tolist()  # the input is left as it was
