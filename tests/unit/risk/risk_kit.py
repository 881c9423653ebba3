"""Shared pieces for the micro risk loop tests: a recording sink and small builders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from qts.core.clock import SimulatedClock
from qts.core.time import kst
from qts.model.enums import Track
from qts.risk import (
    ActionType,
    MicroRiskAction,
    MicroRiskConfig,
    MicroRiskLoop,
    RiskCode,
    RiskWarning,
    ShadowBook,
)

T0 = kst(2024, 3, 4, 9, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class RecordingSink:
    """Keeps everything the loop sends; callers can wait for a condition (no sleeps)."""

    def __init__(self) -> None:
        self.actions: list[MicroRiskAction] = []
        self.warnings: list[RiskWarning] = []
        self._cond = threading.Condition()

    def emit(self, action: MicroRiskAction) -> None:
        with self._cond:
            self.actions.append(action)
            self._cond.notify_all()

    def warn(self, warning: RiskWarning) -> None:
        with self._cond:
            self.warnings.append(warning)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[RecordingSink], bool], timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def of(self, action_type: ActionType, symbol: str | None = None) -> list[MicroRiskAction]:
        with self._cond:
            return [
                a
                for a in self.actions
                if a.action_type is action_type and (symbol is None or a.symbol == symbol)
            ]

    def warned(self, code: RiskCode, symbol: str | None = None) -> list[RiskWarning]:
        with self._cond:
            return [
                w
                for w in self.warnings
                if w.code is code and (symbol is None or w.symbol == symbol)
            ]

    def exits(self, symbol: str | None = None) -> list[MicroRiskAction]:
        with self._cond:
            return [
                a
                for a in self.actions
                if a.action_type.is_exit and (symbol is None or a.symbol == symbol)
            ]


class Rig:
    """A loop on a simulated clock, driven cycle by cycle with ``step``."""

    def __init__(self, config: MicroRiskConfig | None = None, *, vectorised: bool = True) -> None:
        self.clock = SimulatedClock(T0)
        self.book = ShadowBook(self.clock)
        self.sink = RecordingSink()
        config = config or MicroRiskConfig(emit_adjustments=True)
        self.loop = MicroRiskLoop(self.book, self.sink, self.clock, config, vectorised=vectorised)

    def hold(
        self,
        symbol: str,
        qty: int,
        avg: int,
        track: Track = Track.SWING,
        *,
        opened: datetime | None = None,
        etf: bool = False,
    ) -> None:
        self.book.on_position(
            symbol, qty, qty * avg, opened or self.clock.now(), track, price=avg, etf=etf
        )

    def tick(self, symbol: str, price: int) -> None:
        self.book.on_price(symbol, price, self.clock.now())

    def step(self, ms: int = 100) -> list[MicroRiskAction]:
        """Advance the clock, keep the position feed alive, run one cycle; its actions."""
        self.clock.advance(timedelta(milliseconds=ms))
        self.book.heartbeat()
        return list(self.loop.run_once().actions)
