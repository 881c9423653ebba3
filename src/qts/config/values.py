"""Typing one text value from a sheet row or ``--param KEY=VALUE``.

A module of its own so the commands that only parse ``--param`` (``qts backtest``) do not import
the whole configuration schema and loader with it.
"""

from __future__ import annotations

from typing import Any


def cast_value(text: str) -> Any:
    """``true``/``false`` (any case) as a bool, then an int, then a float, else the stripped
    text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()
