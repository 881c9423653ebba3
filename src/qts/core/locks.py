"""The run's one lock order, enforced, and who holds what (for the shutdown watchdog).

A run shares three locks between its threads (ETEDA, the P0 handler, the micro risk loop, the
console). They may only be taken in this order (docs/architecture.md, ADR 0018):

    order manager  ->  safety supervisor  ->  store (transaction)

A thread holding a later lock never asks for an earlier one (two locks of the same rank, e.g.
two stores, are independent). Every other lock in the system is a
leaf: it is held only around its own data and never while calling out. :class:`OrderedLock`
checks the order on every acquisition, so a violation fails at once, on the line that commits
it, instead of as a deadlock one run in a hundred. Each lock also records its owner, so a
watchdog can name who holds what when a stop does not finish (:func:`held_locks`).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from types import TracebackType

ORDER_MANAGER = 10
SAFETY = 20
STORE = 30
RANK_NAMES = {ORDER_MANAGER: "order manager", SAFETY: "safety supervisor", STORE: "store"}


class LockOrderError(RuntimeError):
    """A thread asked for a lock that comes before one it already holds: a deadlock in waiting."""


_local = threading.local()
_registry: weakref.WeakSet[OrderedLock] = weakref.WeakSet()
_registry_lock = threading.Lock()


def _held() -> list[OrderedLock]:
    try:
        held: list[OrderedLock] = _local.held
    except AttributeError:
        held = _local.held = []
    return held


class OrderedLock:
    """A reentrant lock with a place in the run's lock order and a known owner."""

    __slots__ = ("__weakref__", "_count", "_lock", "name", "owner", "rank")

    def __init__(self, name: str, rank: int) -> None:
        self.name = name
        self.rank = rank
        self._lock = threading.RLock()
        self._count = 0
        self.owner: threading.Thread | None = None
        with _registry_lock:
            _registry.add(self)

    def _check(self, held: list[OrderedLock]) -> None:
        for other in held:
            if other.rank > self.rank:
                raise LockOrderError(
                    f"lock order: {threading.current_thread().name} asks for {self.name!r} "
                    f"while holding {other.name!r}; the order is "
                    + " -> ".join(RANK_NAMES[r] for r in sorted(RANK_NAMES))
                )

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        held = _held()
        if held and self not in held:
            self._check(held)
        if not self._lock.acquire(blocking, timeout):
            return False
        self._count += 1
        self.owner = threading.current_thread()
        held.append(self)
        return True

    def release(self) -> None:
        held = _held()
        for i in range(len(held) - 1, -1, -1):
            if held[i] is self:
                del held[i]
                break
        self._count -= 1
        if self._count == 0:
            self.owner = None
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        owner = self.owner.name if self.owner else "nobody"
        return f"<OrderedLock {self.name} rank {self.rank} held by {owner}>"


@dataclass(frozen=True, slots=True)
class HeldLock:
    name: str
    rank: int
    thread: str
    ident: int | None


def held_locks() -> list[HeldLock]:
    """Every ordered lock that some thread holds right now, in lock order."""
    with _registry_lock:
        locks = list(_registry)
    out: list[HeldLock] = []
    for lock in locks:
        owner = lock.owner
        if owner is not None:
            out.append(HeldLock(lock.name, lock.rank, owner.name, owner.ident))
    return sorted(out, key=lambda h: (h.rank, h.name))
