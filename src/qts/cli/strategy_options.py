"""What ``qts backtest``, ``qts run`` and ``qts optimize`` share about ``--strategy`` and
``--param``."""

from __future__ import annotations

from typing import Any

from qts.config.values import cast_value
from qts.core.errors import InputError
from qts.engines.strategy.registry import BUILT_IN

STRATEGY_HELP = (
    f"Strategy: {', '.join(sorted(BUILT_IN))}, a name an installed package registers (entry "
    "point group qts.strategies), or path/to/file.py:ClassName (docs/strategies.md)."
)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--param", pair, "expected KEY=VALUE")
        out[key.strip()] = cast_value(value)
    return out
