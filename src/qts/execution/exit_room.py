"""How much an emergency exit may sell now, given the sells already pending at the venue.

A broker refuses a sell above the orderable quantity (holdings minus the remaining quantity of
the open sells: KIS APBK9002 "주문가능수량을 초과 했습니다"). So the micro risk loop's exits never
fight the orders already working:

* **room** = held − pending sells. The exit sends ``min(qty, room)``; never more.
* What the room cannot cover is *stood aside* when the pending sells already do the exit's job
  (a halving while ETEDA's sell of everything is working: the position is going anyway).
* A **full** exit (stop, kill switch, time) cannot wait on a limit sell that may never fill:
  the pending non-emergency LIMIT sells are cancelled (cancel-replace); their quantity comes
  free when the venue confirms the cancel, and the loop's next attempt sells it at market.
  Pending MARKET sells are left to fill.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qts.model.enums import OrderSide, OrderType


@dataclass(frozen=True, slots=True)
class PendingSell:
    client_order_id: str
    remaining: int
    order_type: OrderType
    emergency: bool


@dataclass(frozen=True, slots=True)
class ExitPlan:
    send: int  # shares to sell at market now (0: none)
    cancel: tuple[str, ...]  # client order ids of pending sells to cancel first
    note: str  # why less than asked is sent (empty when all of it is)


def pending_sells(
    orders: Iterable[tuple[str, str, OrderSide, int, OrderType, bool]], symbol: str
) -> list[PendingSell]:
    """The open sells of ``symbol`` from (coid, symbol, side, remaining, type, emergency)."""
    return [
        PendingSell(coid, rem, kind, emergency)
        for coid, sym, side, rem, kind, emergency in orders
        if sym == symbol and side is OrderSide.SELL and rem > 0
    ]


def plan_exit(held: int, pending: list[PendingSell], qty: int, *, full: bool) -> ExitPlan:
    """What to do for an exit of ``qty`` shares of a position of ``held``."""
    want = min(qty, held)
    if want <= 0:
        return ExitPlan(0, (), "nothing held")
    working = sum(p.remaining for p in pending)
    room = max(0, held - working)
    send = min(want, room)
    if send == want:
        return ExitPlan(send, (), "")
    short = want - send
    if full:
        limits = [p for p in pending if p.order_type is OrderType.LIMIT and not p.emergency]
        if limits:
            ids = tuple(p.client_order_id for p in limits)
            freed = sum(p.remaining for p in limits)
            return ExitPlan(
                send,
                ids,
                f"{short} shares held by {len(ids)} pending limit sell(s) ({freed} shares): "
                "cancelled; the rest is sold once the venue confirms",
            )
    return ExitPlan(
        send, (), f"{short} shares already being sold by pending sells ({working} working)"
    )


__all__ = ["ExitPlan", "PendingSell", "pending_sells", "plan_exit"]
