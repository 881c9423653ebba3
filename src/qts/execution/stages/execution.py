"""The record of one scalp execution: its plan of slices, fills, state and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qts.execution.algos import SliceSpec, SplitKind
from qts.execution.stages.state import ExecState, ExecutionStateMachine
from qts.model.enums import OrderSide, OrderType, Track


@dataclass(slots=True)
class Slice:
    """One slice of the parent order, with the id it has (or will have) at the venue."""

    spec: SliceSpec
    client_order_id: str
    price: int | None
    sent: bool = False
    failed: bool = False
    closed: bool = False  # filled, cancelled, expired or rejected
    filled: int = 0
    replaced: list[str] = field(default_factory=list)  # ids it had before adjustments

    @property
    def remaining(self) -> int:
        return self.spec.qty - self.filled

    @property
    def open(self) -> bool:
        return self.sent and not self.closed


@dataclass(slots=True)
class Execution:
    execution_id: str
    symbol: str
    side: OrderSide
    strategy: str
    track: Track
    qty: int
    decision_price: int
    order_type: OrderType
    started_at: datetime
    kind: SplitKind = SplitKind.SINGLE
    slices: list[Slice] = field(default_factory=list)
    machine: ExecutionStateMachine = field(init=False)
    fills: list[tuple[int, int, datetime]] = field(default_factory=list)
    rounds: int = 0  # adjustments made
    monitor_until: datetime | None = None
    spread_bps: float = 0.0
    outcome: str = ""
    stage_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.machine = ExecutionStateMachine(self.execution_id)

    @property
    def state(self) -> ExecState:
        return self.machine.state

    @property
    def filled(self) -> int:
        return sum(q for q, _, _ in self.fills)

    @property
    def sent_qty(self) -> int:
        return sum(s.spec.qty for s in self.slices if s.sent and not s.failed)

    def slice_of(self, client_order_id: str) -> Slice | None:
        for s in self.slices:
            if s.client_order_id == client_order_id or client_order_id in s.replaced:
                return s
        return None

    def plan(self) -> dict[str, Any]:
        """What must survive a crash: enough to resume sending and monitoring."""
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "strategy": self.strategy,
            "track": self.track.value,
            "qty": self.qty,
            "decision_price": self.decision_price,
            "order_type": self.order_type.value,
            "started_at": self.started_at.isoformat(),
            "kind": self.kind.value,
            "state": self.state.value,
            "rounds": self.rounds,
            "monitor_until": self.monitor_until.isoformat() if self.monitor_until else None,
            "slices": [
                {
                    "seq": s.spec.sequence,
                    "qty": s.spec.qty,
                    "at": s.spec.scheduled_time.isoformat(),
                    "after_previous": s.spec.after_previous,
                    "coid": s.client_order_id,
                    "price": s.price,
                    "sent": s.sent,
                    "failed": s.failed,
                    "replaced": list(s.replaced),
                }
                for s in self.slices
            ],
        }

    @classmethod
    def from_plan(cls, execution_id: str, plan: dict[str, Any]) -> Execution:
        ex = cls(
            execution_id,
            str(plan["symbol"]),
            OrderSide(plan["side"]),
            str(plan["strategy"]),
            Track(plan["track"]),
            int(plan["qty"]),
            int(plan["decision_price"]),
            OrderType(plan["order_type"]),
            datetime.fromisoformat(plan["started_at"]),
            SplitKind(plan["kind"]),
        )
        ex.rounds = int(plan.get("rounds", 0))
        until = plan.get("monitor_until")
        ex.monitor_until = datetime.fromisoformat(until) if until else None
        for s in plan["slices"]:
            spec = SliceSpec(
                int(s["seq"]),
                int(s["qty"]),
                datetime.fromisoformat(s["at"]),
                bool(s["after_previous"]),
            )
            price = s.get("price")
            ex.slices.append(
                Slice(
                    spec,
                    str(s["coid"]),
                    int(price) if price is not None else None,
                    bool(s["sent"]),
                    bool(s["failed"]),
                    replaced=[str(x) for x in s.get("replaced", [])],
                )
            )
        return ex
