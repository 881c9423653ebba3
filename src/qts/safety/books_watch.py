"""Books versus broker while a live run trades: a mismatch keeps FS070 active.

Every ``interval_s`` (between ETEDA cycles, on the loop's thread) the watch books any fill the
venue reports that the books lack — the broker's own fills explain those differences — and then
compares the holdings with the broker's balance. A difference that remains is unexplained:
FS070 is reported at every check while it lasts, so the safety machine never clears it just
because a cycle passed (two checks in a row escalate to LOCKDOWN, and no new entries are made
meanwhile). It ends when a later check finds the books equal to the broker (resolved), or when
an operator approves (``qts safety approve-recovery``): the mismatch seen at that moment is then
accepted, and only a different one reports again. A difference must be seen by two checks in a
row before it counts (a fill landing between the two reads of one check is not a mismatch).

The broker is read without the order manager's lock (a paged inquiry under a rate limit takes
seconds, and P0 fills and orders must not wait for it); only the booking takes the lock, and a
fill the P0 path booked meanwhile is skipped by its id. Once the run is stopping, no check
starts: the loop's thread must get to the end of the run promptly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from qts.execution.oms import OrderManager
from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
T = TypeVar("T")


def holding_mismatches(books: dict[str, int], broker: dict[str, int]) -> list[str]:
    """Each symbol whose quantity differs, as ``symbol: N here, M at the broker``."""
    out = []
    for symbol in sorted(books.keys() | broker.keys()):
        here, there = books.get(symbol, 0), broker.get(symbol, 0)
        if here != there:
            out.append(f"{symbol}: {here} here, {there} at the broker")
    return out


class BooksWatch:
    def __init__(
        self,
        oms: OrderManager,
        safety: SafetySupervisor,
        now: Callable[[], datetime],
        *,
        interval_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self.oms = oms
        self.stop = stop
        self.safety = safety
        self.now = now
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._next = monotonic() + interval_s  # start-up reconciliation has just compared
        self.problems: list[str] = []  # the unexplained mismatch, while there is one
        self._accepted: frozenset[str] = frozenset()
        self._approval = safety.status.applied_request
        self.checks = 0
        self.fills_booked = 0
        self._last_seen: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self.problems) and frozenset(self.problems) != self._accepted

    def check(self) -> list[str]:
        """One comparison; reports FS070 while an unexplained mismatch lasts."""
        self.checks += 1
        approval = self.safety.status.applied_request
        if approval != self._approval:  # an operator approved: accept what is seen now
            self._approval = approval
            self._accepted = frozenset(self.problems)
        broker = self.oms.broker
        reported = broker.fills()
        with self.oms.lock:
            booked = {f for o in self.oms.orders.values() for f in o.fill_ids}
            for fill in reported:
                if fill.fill_id not in booked and fill.client_order_id in self.oms.orders:
                    self.oms.book_fill(fill)  # the broker's own fill explains the difference
                    self.fills_booked += 1
            books = {p.symbol: p.qty for p in self.oms.account.open_positions()}
        problems = holding_mismatches(books, dict(broker.balance().holdings))
        was = self.active
        confirmed = bool(problems) and problems == self._last_seen  # not a fill in flight
        self._last_seen = problems
        if problems and not confirmed and not was:
            return problems  # seen once: judged again at the next check
        self.problems = problems
        if not problems:
            self._accepted = frozenset()
            if was:
                log.warning("books and broker agree again; FS070 resolved")
            return problems
        if self.active:
            self.safety.report("FS070", "books vs broker, unexplained: " + "; ".join(problems))
        return problems

    def due(self) -> bool:
        now = self._monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True

    def wrap(self, frames: Iterable[T]) -> Iterator[T]:
        """``frames`` with a check before each one that falls due (the loop's own thread)."""
        for frame in frames:
            if self.due() and not (self.stop is not None and self.stop.is_set()):
                try:
                    self.check()
                except Exception as exc:  # a failed inquiry is the broker's FS04x, not FS070
                    if self.stop is not None and self.stop.is_set():
                        log.info("books check given up: the run is stopping (%s)", exc)
                    else:
                        log.warning("books check failed: %s", exc)
            yield frame


__all__ = ["BooksWatch", "holding_mismatches"]
