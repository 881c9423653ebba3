"""How much an emergency exit may sell now, given the sells already pending at the venue.

A broker refuses a sell above the orderable quantity (holdings minus the remaining quantity of
the open sells: KIS APBK9002 "주문가능수량을 초과 했습니다"). So the micro risk loop's exits never
fight the orders already working:

* **room** = held − pending sells. The exit sends ``min(qty, room)``; never more.
* What the room cannot cover is *stood aside* when the pending sells already do the exit's job
  (a halving while ETEDA's sell of everything is working at the market: the position is going
  anyway).
* An exit that must happen cannot wait on a limit sell that may never fill. By its
  :class:`~qts.model.enums.Urgency`: ``FORCED`` (a stop, time in trade, an emergency halving)
  cancels the pending non-emergency LIMIT sells whose limit is above the market (not filling);
  ``FLATTEN`` (before the close, an emergency full exit) cancels every one of them. Their
  quantity comes free when the venue confirms the cancel (the order state machine closes the
  order), and the next attempt sells it: nothing is ever sold twice, since a sell being
  cancelled still counts as working until then. Pending MARKET sells are left to fill.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qts.engines.contracts import PendingSell
from qts.model.enums import OrderSide, OrderType, Urgency


@dataclass(frozen=True, slots=True)
class ExitPlan:
    send: int  # shares to sell at market now (0: none)
    cancel: tuple[str, ...]  # client order ids of pending sells to cancel first
    note: str  # why less than asked is sent (empty when all of it is)


def pending_sells(
    orders: Iterable[tuple[str, str, OrderSide, int, OrderType, bool, int | None]], symbol: str
) -> list[PendingSell]:
    """The open sells of ``symbol`` from (coid, symbol, side, remaining, type, emergency,
    limit price)."""
    return [
        PendingSell(coid, rem, kind, emergency, limit)
        for coid, sym, side, rem, kind, emergency, limit in orders
        if sym == symbol and side is OrderSide.SELL and rem > 0
    ]


def replaceable(p: PendingSell, urgency: Urgency, market: int) -> bool:
    """May an exit of ``urgency`` cancel ``p``? Only a non-emergency LIMIT sell; a FORCED exit
    only one resting above ``market`` (the last price; 0 when unknown: none)."""
    if p.order_type is not OrderType.LIMIT or p.emergency or urgency is Urgency.NORMAL:
        return False
    if urgency is Urgency.FLATTEN:
        return True
    return market > 0 and p.limit_price is not None and p.limit_price > market


def plan_exit(
    held: int,
    pending: Sequence[PendingSell],
    qty: int,
    urgency: Urgency,
    market: int = 0,
) -> ExitPlan:
    """What to do for an exit of ``qty`` shares of a position of ``held``, ``market`` being
    the last price (0: unknown)."""
    want = min(qty, held)
    if want <= 0:
        return ExitPlan(0, (), "nothing held")
    working = sum(p.remaining for p in pending)
    room = max(0, held - working)
    send = min(want, room)
    if send == want:
        return ExitPlan(send, (), "")
    short = want - send
    limits = [p for p in pending if replaceable(p, urgency, market)]
    if limits:
        ids = tuple(p.client_order_id for p in limits)
        freed = sum(p.remaining for p in limits)
        prices = ", ".join(f"{p.limit_price:,}" for p in limits if p.limit_price is not None)
        return ExitPlan(
            send,
            ids,
            f"{short} shares held by {len(ids)} pending limit sell(s) ({freed} shares"
            + (f" at {prices}" if prices else "")
            + (f", market {market:,}" if market > 0 else "")
            + "): cancelled; the rest is sold once the venue confirms",
        )
    return ExitPlan(
        send, (), f"{short} shares already being sold by pending sells ({working} working)"
    )


__all__ = ["ExitPlan", "PendingSell", "pending_sells", "plan_exit", "replaceable"]
