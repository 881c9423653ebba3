"""Carries out what the micro risk loop decides: emergency exits, the kill switch, blocks.

It runs on the P0 handler (never behind market data), talks to the order manager directly (not
through ETEDA, which may be stalled) and reports to safety. Emergency exits are allowed in every
safety state: they only ever reduce risk. Outside the venue's order hours (``order_hours``) an
exit is deferred, not sent: a broker refuses a market order after the close, and retrying it
every cycle would spend the rate limit and the stop's grace on refusals.

The same holds for a refusal that retrying will not change: the venue holds fewer sellable
shares than the books (``HOLDINGS_REFUSALS``: KIS APBK9002, the simulator's and Kiwoom's
INSUFFICIENT_HOLDINGS; shares sold outside QTS). The first such refusal of a symbol reports one
FS070 (books vs broker) naming the symbol and the refusal; the exit then backs off
exponentially (``BACKOFF_FIRST`` doubling up to ``BACKOFF_CAP``) instead of being resent every
cycle, until the books' quantity changes (reconciled) or an exit goes through. While the run is
stopping (``stopping``), an exit that was refused so is not tried again: the stop must not wait
behind it on the rate limiter.

An exit that must happen does not stand aside behind a resting limit sell that is not filling
(``exit_room``): a full exit cancels every pending limit sell, a partial one those above the
market; the rest is sold at market once the venue confirms the cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qts.brokers.base import HOLDINGS_REFUSALS
from qts.core.clock import Clock
from qts.engines.contracts import ExecutionResult, OrderDecision
from qts.execution.exit_room import ExitPlan, pending_sells, plan_exit
from qts.execution.oms import EMERGENCY_STRATEGY, OrderManager
from qts.model.enums import OrderSide, OrderType, Urgency
from qts.risk import ActionType, MicroRiskAction, MicroRiskLoop
from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
BACKOFF_FIRST = timedelta(seconds=5)  # after the first lasting refusal of a symbol's exit
BACKOFF_CAP = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A symbol's exit the venue refused for good: when it may be tried again."""

    held: int  # the books' quantity then: when it changes (reconciled), the back-off ends
    count: int
    until: datetime
    message: str


def backoff(count: int) -> timedelta:
    """The wait after the ``count``-th lasting refusal in a row (1, 2, ...): doubling, capped."""
    return min(BACKOFF_FIRST * 2 ** min(max(count - 1, 0), 16), BACKOFF_CAP)


@dataclass(slots=True)
class TradingControls:
    """What the micro loop may switch off in ETEDA: new entries, or the whole cycle."""

    entries_blocked: set[str] = field(default_factory=set)  # symbols, or "ALL"
    suspended_until: datetime | None = None

    def entries_allowed(self, symbol: str) -> bool:
        return "ALL" not in self.entries_blocked and symbol not in self.entries_blocked

    def suspended(self, now: datetime) -> bool:
        return self.suspended_until is not None and now < self.suspended_until


class EmergencyExecutor:
    def __init__(
        self,
        oms: OrderManager,
        safety: SafetySupervisor,
        clock: Clock,
        controls: TradingControls,
        loop: MicroRiskLoop | None = None,
        order_hours: Callable[[], bool] | None = None,
    ) -> None:
        self.oms = oms
        self.order_hours = order_hours
        self.deferred: set[str] = set()  # symbols whose exit waits for the venue to open
        self.refused: dict[str, Refusal] = {}  # symbols whose exit backs off a lasting refusal
        self.stopping: Callable[[], bool] = lambda: False  # the run is stopping
        self.safety = safety
        self.clock = clock
        self.controls = controls
        self.loop = loop
        self.results: list[ExecutionResult] = []
        self.stood_aside: list[tuple[str, int, str]] = []  # (symbol, qty, why)

    def handle(self, action: MicroRiskAction) -> None:
        kind = action.action_type
        if kind.is_exit:
            self._exit(action.symbol, action.qty, action.reason, full=kind is ActionType.FULL_EXIT)
        elif kind is ActionType.KILL_SWITCH:
            # the loop sends a FULL_EXIT for every position itself; this is the state signal
            self.safety.report("FS104", action.reason or "volatility kill switch")
            self.controls.entries_blocked.add("ALL")
        elif kind is ActionType.ETEDA_SUSPEND:
            duration = action.payload.get("duration_ms")
            now = self.clock.now()
            self.controls.suspended_until = (
                datetime.max.replace(tzinfo=now.tzinfo)
                if duration is None
                else now + timedelta(milliseconds=float(duration))
            )
            self.safety.report("FS103", action.reason or "ETEDA suspended by the micro risk loop")
        elif kind in (ActionType.BLOCK_ENTRIES, ActionType.POSITION_FREEZE):
            self.controls.entries_blocked.add(action.symbol)
        elif kind is ActionType.REDUCE_EXPOSURE:
            # the halving itself arrives as one PARTIAL_EXIT per position
            self.controls.entries_blocked.add("ALL")

    def _plan(self, symbol: str, held: int, qty: int, full: bool) -> ExitPlan:
        """The exit's room next to the open sells; cancels what the plan says to (caller holds
        the order manager's lock). A full exit replaces every pending limit sell, a partial
        one those resting above the last price."""
        views = [
            (o.client_order_id, o.symbol, o.side, o.remaining, o.order_type,
             o.strategy == EMERGENCY_STRATEGY, o.limit_price)
            for o in self.oms.open_orders()
        ]  # fmt: skip
        pos = self.oms.account.positions.get(symbol)
        market = pos.last_price if pos is not None else 0
        urgency = Urgency.FLATTEN if full else Urgency.FORCED
        plan = plan_exit(held, pending_sells(views, symbol), qty, urgency, market)
        for coid in plan.cancel:
            ack = self.oms.broker.cancel(coid)
            if not ack.accepted:
                log.warning("cancel of %s for an emergency exit refused: %s", coid, ack.reason)
        return plan

    def _backing_off(self, symbol: str, held: int) -> bool:
        """True while ``symbol``'s exit waits out a lasting refusal (caller holds the lock)."""
        r = self.refused.get(symbol)
        if r is None:
            return False
        if r.held != held:  # the books changed (reconciled, a fill): try again at once
            del self.refused[symbol]
            return False
        return self.stopping() or self.clock.now() < r.until

    def _refused_for_good(self, symbol: str, qty: int, held: int, message: str) -> None:
        """A refusal that retrying will not change: one FS070, then back off."""
        prev = self.refused.get(symbol)
        count = 1 if prev is None else prev.count + 1
        wait = backoff(count)
        self.refused[symbol] = Refusal(held, count, self.clock.now() + wait, message)
        if prev is None:
            log.error(
                "emergency exit %s x%d refused by the broker: %s; the books hold %d shares the "
                "broker will not sell: retried after %ds, backing off", symbol, qty, message,
                held, wait.total_seconds(),
            )  # fmt: skip
            self.safety.report(
                "FS070",
                f"books vs broker: emergency exit {symbol} x{qty} refused by the broker "
                f"({message}); the books hold {held} shares of {symbol} the broker will not "
                "sell (sold outside QTS?): the exit backs off until the books are reconciled",
            )
        else:
            log.warning(
                "emergency exit %s x%d refused again (%d in a row): %s; next try in %ds",
                symbol, qty, count, message, wait.total_seconds(),
            )  # fmt: skip

    def _closed(self, symbol: str, qty: int, reason: str) -> bool:
        """True (and the exit re-judged later) when the venue takes no order now."""
        if self.order_hours is None:
            return False
        if self.order_hours():
            self.deferred.discard(symbol)
            return False
        if symbol not in self.deferred:
            self.deferred.add(symbol)
            log.warning(
                "emergency exit %s x%d (%s) deferred: the venue takes no order now; "
                "it is judged again until the market opens", symbol, qty, reason,
            )  # fmt: skip
        if self.loop is not None:
            self.loop.on_exit_done(symbol)  # re-judged after the loop's grace
        return True

    def _exit(self, symbol: str, qty: int, reason: str, full: bool) -> None:
        if self._closed(symbol, qty, reason):
            return
        with self.oms.lock:
            held = self.oms.account.held_qty(symbol)
            qty = min(qty, held)
            if qty <= 0:
                return
            if self._backing_off(symbol, held):
                if self.loop is not None:
                    self.loop.on_exit_done(symbol)  # re-judged after the loop's grace
                return
            # never sell what pending sells already hold at the venue (exit_room)
            plan = self._plan(symbol, held, qty, full)
            if plan.send <= 0:
                log.info("emergency exit %s x%d stands aside: %s", symbol, qty, plan.note)
                self.stood_aside.append((symbol, qty, plan.note))
                if self.loop is not None:
                    self.loop.on_exit_done(symbol)  # re-judged after the loop's grace
                return
            if plan.note:
                log.info("emergency exit %s: %d of %d now; %s", symbol, plan.send, qty, plan.note)
            qty = plan.send
            pos = self.oms.account.positions[symbol]
            now = self.clock.now()
            decision = OrderDecision(
                symbol,
                OrderSide.SELL,
                qty,
                OrderType.MARKET,
                None,
                reason,
                EMERGENCY_STRATEGY,
                pos.track,
                0,
            )
            result = self.oms.submit(decision, f"risk@{now.isoformat()}", now)
        self.results.append(result)
        if result.status in ("submitted", "duplicate"):
            self.refused.pop(symbol, None)
            if full:
                self.safety.report("FS102", f"emergency exit {symbol} x{qty}: {reason}")
            return
        if result.code in HOLDINGS_REFUSALS:
            self._refused_for_good(symbol, qty, held, result.message)
            if self.loop is not None:
                self.loop.on_exit_failed(symbol, result.message)
            return
        log.error("emergency exit %s x%d failed: %s", symbol, qty, result.message)
        self.safety.report("GR074", f"emergency exit {symbol} x{qty} failed: {result.message}")
        if self.loop is not None:
            self.loop.on_exit_failed(symbol, result.message)
