"""Search spaces: inclusive ranges, exact float steps, clear refusals; the grid-or-TPE plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.backtest.optimize.space import SearchSpace, parse_dimension
from qts.backtest.optimize.sweep import plan
from qts.core.errors import InputError


def test_ranges_are_inclusive_and_stepped() -> None:
    assert parse_dimension("fast=5:9").values == (5, 6, 7, 8, 9)
    assert parse_dimension("slow=20:60:5").values == (20, 25, 30, 35, 40, 45, 50, 55, 60)
    assert parse_dimension("slow=20:62:5").values[-1] == 60
    assert parse_dimension("k=0.1:0.5:0.1").values == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert parse_dimension("mode=a,b,3").values == ("a", "b", 3)


@given(st.integers(-1000, 1000), st.integers(0, 300), st.integers(1, 50))
def test_integer_ranges_match_python_range(low: int, span: int, step: int) -> None:
    dim = parse_dimension(f"x={low}:{low + span}:{step}")
    assert dim.values == tuple(range(low, low + span + 1, step))
    assert dim.is_int


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("fast", "expected NAME=A:B"),
        ("fast=", "expected NAME=A:B"),
        ("fast=9:5", "is below"),
        ("fast=1:5:0", "STEP must be positive"),
        ("fast=1:5:-1", "STEP must be positive"),
        ("fast=a:5", "'a' is not a number"),
        ("fast=1:2:3:4", "expected A:B or A:B:STEP"),
        ("fast=1:nan", "not a finite number"),
        ("fast=1,1", "listed twice"),
        ("fast=0:1000000", "at most"),
    ],
)
def test_bad_spaces_name_the_option_and_reason(spec: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse_dimension(spec)
    assert info.value.source == "--space"
    assert reason in info.value.reason


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match="given twice"):
        SearchSpace.parse(["fast=1:3", "fast=4:5"])


def test_grid_when_the_budget_covers_the_space_else_tpe() -> None:
    space = SearchSpace.parse(["fast=5:20", "slow=20:60:5"])
    assert space.grid_size == 16 * 9
    assert plan(space, None) == ("grid", 144)
    assert plan(space, 500) == ("grid", 144)
    assert plan(space, 32) == ("tpe", 32)
    points = list(space.grid())
    assert len(points) == 144 and len({tuple(p.values()) for p in points}) == 144
    huge = SearchSpace.parse(["a=1:1000", "b=1:1000"])
    with pytest.raises(InputError, match="give --trials"):
        plan(huge, None)
