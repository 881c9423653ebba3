"""Act: the only stage that trades: persist each intent, send it, record the answer.

Scalp orders go through the scalp execution micro-pipeline when the run has one (PreCheck →
OrderSplit → AsyncSend here; the fill monitor, adjustments and escape on the event spine):
Act waits only for the acknowledgement of their first slices.

The resting sells a forced exit replaces (``Decisions.cancels``) are cancelled first; their
quantity comes free when the venue's CANCELED notice closes them (the order state machine), so
the exit's remainder goes in a later cycle and nothing is sold twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from qts.engines.contracts import Decisions, ExecutionResult, OrderDecision
from qts.execution.oms import OrderManager
from qts.model.enums import Track

log = logging.getLogger(__name__)


class ScalpRoute(Protocol):
    def execute(self, decision: OrderDecision, cycle_id: str, ts: datetime) -> ExecutionResult: ...


def act(
    decisions: Decisions,
    oms: OrderManager,
    cycle_id: str,
    ts: datetime,
    scalp: ScalpRoute | None = None,
) -> tuple[ExecutionResult, ...]:
    """The intents are stored before sending; the answers go with the cycle's own commit."""
    for c in decisions.cancels:
        ack = oms.cancel_order(c.client_order_id, ts, c.reason)
        if ack.accepted:
            log.info("cancel %s %s sent: %s", c.symbol, c.client_order_id, c.reason)
        else:
            log.warning(
                "cancel %s %s (%s) refused: %s", c.symbol, c.client_order_id, c.reason, ack.reason
            )
    if scalp is None or not any(d.track is Track.SCALP for d in decisions.orders):
        return oms.submit_all(decisions.orders, cycle_id, ts, save_answers=False)
    plain = [d for d in decisions.orders if d.track is not Track.SCALP]
    done = iter(oms.submit_all(plain, cycle_id, ts, save_answers=False) if plain else ())
    out: list[ExecutionResult] = []
    for d in decisions.orders:
        out.append(scalp.execute(d, cycle_id, ts) if d.track is Track.SCALP else next(done))
    return tuple(out)
