"""What the micro risk loop asks the rest of the system to do, and the pending-exit bookkeeping.

The loop never sends orders itself: it hands :class:`MicroRiskAction` objects and
:class:`RiskWarning` objects to an :class:`ActionSink`, which the application wires to the P0
emergency-order channel, the ETEDA controller and the Safety state machine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

ALL = "ALL"
"""The symbol of an action or warning that concerns the whole book."""

PayloadValue = int | float | str | None


class ActionType(StrEnum):
    TRAILING_STOP_ADJUST = "TRAILING_STOP_ADJUST"
    PARTIAL_EXIT = "PARTIAL_EXIT"
    FULL_EXIT = "FULL_EXIT"
    POSITION_FREEZE = "POSITION_FREEZE"
    ETEDA_SUSPEND = "ETEDA_SUSPEND"
    KILL_SWITCH = "KILL_SWITCH"
    BLOCK_ENTRIES = "BLOCK_ENTRIES"
    REDUCE_EXPOSURE = "REDUCE_EXPOSURE"

    @property
    def is_exit(self) -> bool:
        """Exits become emergency SELL orders; only one may be pending per position."""
        return self in (ActionType.PARTIAL_EXIT, ActionType.FULL_EXIT)


class RiskCode(StrEnum):
    """The micro loop's slice of the safety catalogue (decisions.md, "Safety codes")."""

    FS100 = "FS100"  # loop (or one position's evaluation) crashed
    FS101 = "FS101"  # shadow sync delay > 1 s
    FS102 = "FS102"  # emergency exit
    FS103 = "FS103"  # ETEDA stop requested
    FS104 = "FS104"  # kill switch fired
    FS105 = "FS105"  # price feed stale
    GR070 = "GR070"  # trailing stop adjusted too often (not raised yet: no number in the spec)
    GR071 = "GR071"  # MAE near threshold
    GR072 = "GR072"  # time in trade near its limit
    GR073 = "GR073"  # volatility rising
    GR074 = "GR074"  # emergency exit failed


class ExitReason(StrEnum):
    KILL_SWITCH = "VOLATILITY_KILL_SWITCH"
    VOLATILITY_REDUCE = "VOLATILITY_REDUCE_50"
    MAE_FULL = "MAE_THRESHOLD_EXCEEDED"
    MAE_PARTIAL = "MAE_PARTIAL_THRESHOLD"
    TIME = "TIME_IN_TRADE_EXCEEDED"
    TRAILING = "TRAILING_STOP_HIT"


@dataclass(frozen=True, slots=True)
class MicroRiskAction:
    """One instruction, always priority P0. Rules build it unstamped; the loop adds id, time, cycle.

    ``qty`` is the number of shares to sell for exits (0 otherwise). Exits are SELL at MARKET:
    QTS positions are long-only.
    """

    action_type: ActionType
    symbol: str
    qty: int = 0
    reason: str = ""
    code: RiskCode | None = None
    payload: Mapping[str, PayloadValue] = field(default_factory=dict)
    action_id: str = ""
    ts: datetime | None = None
    cycle: int = -1

    @property
    def priority(self) -> str:
        return "P0"

    def stamped(self, action_id: str, ts: datetime, cycle: int) -> MicroRiskAction:
        return replace(self, action_id=action_id, ts=ts, cycle=cycle)

    def unstamped(self) -> MicroRiskAction:
        """The decision alone, for comparing two evaluations."""
        return replace(self, action_id="", ts=None, cycle=-1)


@dataclass(frozen=True, slots=True)
class RiskWarning:
    """A condition worth telling Safety about; raised once when it appears, not every cycle."""

    code: RiskCode
    symbol: str
    message: str
    ts: datetime
    cycle: int


class ActionSink(Protocol):
    """Where the loop's output goes. Both calls run on the loop thread and must not block on
    ETEDA/OMS locks: put the item on a queue and return."""

    def emit(self, action: MicroRiskAction) -> None: ...

    def warn(self, warning: RiskWarning) -> None: ...


@dataclass(frozen=True, slots=True)
class PendingExit:
    """An emergency exit sent and not yet resolved.

    It is resolved when the shadow shows ``qty <= target_qty`` (the fill landed), when the
    position is closed or replaced (its ``epoch`` changed), when the order manager reports the
    order failed, or ``grace`` after the order manager reports it done (so a fill that is still on
    its way to the shadow does not trigger a second exit).
    """

    symbol: str
    slot: int
    epoch: int
    action_id: str
    action_type: ActionType
    reason: str
    qty_before: int
    target_qty: int
    since_us: int
    closed_us: int | None = None
    failed: bool = False
    note: str = ""


class ExitGuard:
    """At most one pending emergency exit per position.

    Written by the loop thread (``begin``, ``resolve``) and by the order manager's thread
    (``done``, ``failed``); a small lock guards O(1) dictionary updates only.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, PendingExit] = {}
        self.version = 0  # bumped on every change, so a copy is shipped only when it changed

    def begin(self, exit_: PendingExit) -> bool:
        """Record a new pending exit; False (and nothing recorded) if one is already pending."""
        with self._lock:
            if exit_.symbol in self._pending:
                return False
            self._pending[exit_.symbol] = exit_
            self.version += 1
            return True

    def done(self, symbol: str, now_us: int) -> bool:
        return self._close(symbol, now_us, failed=False, note="")

    def failed(self, symbol: str, now_us: int, note: str = "") -> bool:
        return self._close(symbol, now_us, failed=True, note=note)

    def _close(self, symbol: str, now_us: int, failed: bool, note: str) -> bool:
        with self._lock:
            p = self._pending.get(symbol)
            if p is None or p.closed_us is not None:
                return False
            self._pending[symbol] = replace(p, closed_us=now_us, failed=failed, note=note)
            self.version += 1
            return True

    def get(self, symbol: str) -> PendingExit | None:
        return self._pending.get(symbol)

    def items(self) -> list[PendingExit]:
        with self._lock:
            return list(self._pending.values())

    def discard(self, exit_: PendingExit) -> bool:
        """Remove ``exit_`` if it is still the recorded entry (not replaced meanwhile)."""
        with self._lock:
            if self._pending.get(exit_.symbol) is exit_:
                del self._pending[exit_.symbol]
                self.version += 1
                return True
            return False

    def restore(self, exits: list[PendingExit]) -> None:
        """Seed a fresh guard (a restarted loop process) with the exits still pending."""
        with self._lock:
            for e in exits:
                self._pending.setdefault(e.symbol, e)
            self.version += 1

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._pending
