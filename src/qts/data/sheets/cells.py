"""Cell values both ways: what QTS writes, and how it reads Google's formatted strings back.

Google answers ``FORMATTED_VALUE`` reads with strings: a number written as 1234567 reads back
"1234567", or "1,234,567" in a cell the operator formatted with thousands separators; a cell
written as text "00593" stays "00593". QTS therefore writes its exact records as text and parses
every integer back exactly, accepting the separators and currency signs a format may add and
refusing anything with a fraction.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from qts.core.time import from_iso, require_aware

MAX_CELL_CHARS = 50_000  # Google refuses longer text in one cell
SAFE_INT = 2**53  # beyond this a JSON number (a double in Sheets) loses digits
_STRIP = str.maketrans("", "", ",_ \u00a0₩")


def parse_int(value: Any, what: str = "value") -> int:
    """An exact integer from a cell: 70000, "70000", "70,000", "₩70,000", "70,000.00"."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= SAFE_INT:
            return int(value)
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    text = str(value).strip()
    if text.upper().startswith("KRW"):
        text = text[3:]
    text = text.translate(_STRIP)
    whole, dot, frac = text.partition(".")
    if dot and frac.strip("0"):
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    body = whole[1:] if whole[:1] in "+-" else whole
    if not body.isdigit():
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    return int(whole)


def parse_int_opt(value: Any, what: str = "value") -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_int(value, what)


def ts_text(ts: datetime) -> str:
    """Fixed-width UTC ISO text with microseconds (SqliteStore's spelling)."""
    return require_aware(ts).astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: Any, what: str = "timestamp") -> datetime:
    text = str(value).strip()
    try:
        return from_iso(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def json_text(value: Any) -> str:
    """Strict canonical JSON (no NaN), as the other stores keep documents."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def number_cell(value: int) -> int | str:
    """An integer for a human-facing sheet: a number where Sheets keeps it exact, else text."""
    return value if -SAFE_INT <= value <= SAFE_INT else str(value)


def pct_text(ratio: float | None, decimals: int = 2) -> str:
    """A ratio as the legacy sheets wrote it ("1.25%"); empty when unknown."""
    if ratio is None:
        return ""
    return f"{ratio * 100:.{decimals}f}%"


def parse_pct(value: Any) -> float | None:
    """ "1.25%" → 0.0125 (legacy History's Daily_Return: text, parsed / 100)."""
    text = str(value).strip()
    if not text:
        return None
    if text.endswith("%"):
        return float(text[:-1].replace(",", "")) / 100
    return float(text.replace(",", ""))


def day_text(day: date) -> str:
    return day.isoformat()
