"""JSON rows of a list that changes at its ends, made once per entry.

The capital documents are written every cycle, and each holds windows of up to hundreds of
entries (a pool's daily index, a track's closed trades) that change by an entry or two a day:
converting every entry again each cycle was most of the cost of writing them. Encoding them was
the rest: :meth:`JsonRows.text` gives the list's JSON text from each entry's text, made once too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class JsonRows(Generic[T]):
    """``rows(items)`` equals ``[convert(x) for x in items]`` and ``text(items)`` its strict
    JSON text (``strict_json`` of the list); entries appended at the end or dropped at the front
    (the windows' only changes) are converted or dropped alone, anything else converts the list
    again. Entries are compared by identity. The joined text is kept until the list changes:
    with daily bars the windows document is written every cycle, a track's trades mostly
    unchanged."""

    __slots__ = ("_convert", "_joined", "_rows", "_src", "_texts")

    def __init__(self, convert: Callable[[T], Any]) -> None:
        self._convert = convert
        self._src: list[T] = []
        self._rows: list[Any] = []
        self._texts: list[str] = []
        self._joined: str | None = None

    def rows(self, items: Sequence[T]) -> list[Any]:
        self._update(items)
        return list(self._rows)

    def text(self, items: Sequence[T]) -> str:
        self._update(items)
        joined = self._joined
        if joined is None:
            joined = self._joined = "[" + ",".join(self._texts) + "]"
        return joined

    def _update(self, items: Sequence[T]) -> None:
        src, n = self._src, len(items)
        if not (src and n and self._sync(items)):
            self._src = list(items)
            self._rows = [self._convert(x) for x in items]
            self._texts = [_encode(r) for r in self._rows]
            self._joined = None

    def _sync(self, items: Sequence[T]) -> bool:
        src, rows, texts, n = self._src, self._rows, self._texts, len(items)
        last = src[-1]
        for j in range(n - 1, -1, -1):
            if items[j] is last:
                break
        else:
            return False
        drop = len(src) - (j + 1)
        if drop < 0 or src[drop] is not items[0]:
            return False
        if drop:
            del src[:drop], rows[:drop], texts[:drop]
            self._joined = None
        if j + 1 < n:
            self._joined = None
        for x in items[j + 1 :]:
            src.append(x)
            row = self._convert(x)
            rows.append(row)
            texts.append(_encode(row))
        return True


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _encode(row: Any) -> str:
    """``strict_json`` of a row (one encoder for all: ``json.dumps`` builds one per call)."""
    return _ENCODER.encode(row)
