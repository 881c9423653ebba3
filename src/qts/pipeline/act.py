"""Act: the only stage that trades: persist each intent, send it, record the answer."""

from __future__ import annotations

from datetime import datetime

from qts.engines.contracts import Decisions, ExecutionResult
from qts.execution.oms import OrderManager


def act(
    decisions: Decisions, oms: OrderManager, cycle_id: str, ts: datetime
) -> tuple[ExecutionResult, ...]:
    """The intents are stored before sending; the answers go with the cycle's own commit."""
    return oms.submit_all(decisions.orders, cycle_id, ts, save_answers=False)
