"""Write-throughs an in-process cache holds back until a reader could see them.

A fill's write-throughs of ``pos:{symbol}`` and ``ord:{id}`` are a backend call each. Nothing
outside the process can read the in-process cache, and every reader inside it goes through
:class:`~qts.cache.hot.HotCache`, which writes out what it holds of a family before it reads or
writes that family. So the writes of a burst of fills made at one instant (a bar's matches on
a simulated clock) wait and go out together, stamped with that instant, with the next read or
write of their family; a write at another instant sends the held ones out first. A later write
of the same key replaces a held one: no reader could have seen the first.

A reader sees exactly what it would see with each write made at once (the same values, the
same stamps, so the same freshness); only the cache metrics' write counts are lower (fewer
writes reached the backend). A Redis cache is readable by other processes, so its writes are
never held back.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class HeldWrites(Generic[K, V]):
    """Held-back writes of one family made at one instant (``stamp_ms``) over one key space
    (``group``: a position column's symbols; None for keys by name). ``flush_lock`` is held by
    whoever writes them out or writes the family, so a held value never lands after a newer
    write."""

    __slots__ = ("_lock", "flush_lock", "group", "items", "stamp_ms")

    def __init__(self) -> None:
        self._lock = threading.Lock()  # adding and taking
        self.flush_lock = threading.Lock()  # writing out, in order
        self.group: tuple[str, ...] | None = None
        self.stamp_ms = 0
        self.items: dict[K, V] = {}

    def add(self, key: K, value: V, stamp_ms: int, group: tuple[str, ...] | None = None) -> bool:
        """Hold ``value`` for ``key``; False (nothing held) if writes of another instant or
        key space are held: the caller writes those out first."""
        with self._lock:
            items = self.items
            if items and (
                stamp_ms != self.stamp_ms or (self.group is not group and self.group != group)
            ):
                return False
            if not items:
                self.stamp_ms, self.group = stamp_ms, group
            items[key] = value
            return True

    def take(self) -> tuple[tuple[str, ...] | None, int, dict[K, V]]:
        """(key space, instant, writes), emptying the hold."""
        with self._lock:
            taken, self.items = self.items, {}
            return self.group, self.stamp_ms, taken
