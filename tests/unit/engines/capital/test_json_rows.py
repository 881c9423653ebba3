"""JsonRows gives the rows a full conversion gives after the windows' changes (appends at the
end, drops at the front) and after any new list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qts.data.records import strict_json
from qts.engines.capital.rows import JsonRows

EDITS = st.lists(
    st.tuples(st.sampled_from(["append", "drop", "replace", "clear"]), st.integers(0, 5)),
    max_size=60,
)


@given(EDITS)
def test_rows_equal_a_full_conversion_after_any_edits(edits: list[tuple[str, int]]) -> None:
    items: list[tuple[int, float]] = []
    rows = JsonRows(lambda x: [x[0], x[1]])
    counter = 0
    for op, n in edits:
        if op == "append":
            for _ in range(n):
                counter += 1
                items.append((counter, counter / 7))
        elif op == "drop":
            del items[:n]
        elif op == "replace":
            items = [(counter + k, 0.5) for k in range(n)]
            counter += n
        elif op == "clear":
            items.clear()
        got = rows.rows(items)
        assert got == [[a, b] for a, b in items]
        assert rows.text(items) == strict_json(got)
        got.append(["not", "shared"])  # the caller's list is its own
        assert rows.rows(items)[-1:] != [["not", "shared"]] or not items
