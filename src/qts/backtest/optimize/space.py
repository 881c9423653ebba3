"""Search spaces from the command line: ``NAME=A:B[:STEP]`` (inclusive) or ``NAME=x,y,z``."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import product
from typing import Any

from qts.core.errors import InputError

MAX_GRID = 100_000


@dataclass(frozen=True, slots=True)
class Dimension:
    """One parameter's values, in order; ``low``/``high``/``step`` when it is a numeric range."""

    name: str
    values: tuple[Any, ...]
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def is_int(self) -> bool:
        return self.step is not None and all(isinstance(v, int) for v in self.values)

    @property
    def is_range(self) -> bool:
        return self.step is not None


def _number(text: str, spec: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError("--space", spec, f"{text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise InputError("--space", spec, f"{text.strip()!r} is not a finite number")
    return value


def _scalar(text: str) -> Any:
    t = text.strip()
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


def parse_dimension(spec: str) -> Dimension:
    name, sep, body = spec.partition("=")
    name = name.strip()
    if not sep or not name or not body.strip():
        raise InputError("--space", spec, "expected NAME=A:B[:STEP] or NAME=x,y,z")
    if ":" not in body:
        values = tuple(_scalar(v) for v in body.split(","))
        if any(v == "" for v in values):
            raise InputError("--space", spec, "a listed value is empty")
        if len(set(values)) != len(values):
            raise InputError("--space", spec, "a value is listed twice")
        return Dimension(name, values)
    parts = body.split(":")
    if len(parts) not in (2, 3):
        raise InputError("--space", spec, "expected A:B or A:B:STEP")
    low, high = _number(parts[0], spec), _number(parts[1], spec)
    step = _number(parts[2], spec) if len(parts) == 3 else Decimal(1)
    if step <= 0:
        raise InputError("--space", spec, "STEP must be positive")
    if high < low:
        raise InputError("--space", spec, f"{parts[1].strip()} is below {parts[0].strip()}")
    count = int((high - low) // step) + 1
    if count > MAX_GRID:
        raise InputError("--space", spec, f"{count:,} values; at most {MAX_GRID:,}")
    integral = all(x == x.to_integral_value() for x in (low, step))
    points = [low + step * k for k in range(count)]
    values = tuple(int(p) if integral else float(p) for p in points)
    return Dimension(
        name, values, float(values[0]), float(values[-1]), int(step) if integral else float(step)
    )


@dataclass(frozen=True, slots=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @classmethod
    def parse(cls, specs: Sequence[str]) -> SearchSpace:
        if not specs:
            raise InputError("--space", "", "give at least one --space NAME=A:B[:STEP]")
        dims = tuple(parse_dimension(s) for s in specs)
        names = [d.name for d in dims]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InputError("--space", ", ".join(repeated), "a parameter is given twice")
        return cls(dims)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def grid_size(self) -> int:
        return math.prod(len(d.values) for d in self.dimensions)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every point, the last dimension varying fastest."""
        for combo in product(*(d.values for d in self.dimensions)):
            yield dict(zip(self.names, combo, strict=True))
