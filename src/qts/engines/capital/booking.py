"""The first part of a capital step: the ledger entries booked since the last step go to
their pools (a buy moves money from available to invested, a sale back, fees and P&L stay with
the pool; a closed trade joins its track's window), then an overdrawn pool is covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from qts.engines.capital.cycle import BookedEntry
from qts.engines.capital.pool import POOLS, Transfer, TransferError
from qts.engines.capital.promotion import ClosedTrade
from qts.engines.capital.windows import TRADES_WINDOW, _trade_row
from qts.model.enums import OrderSide

if TYPE_CHECKING:
    from qts.engines.capital.flow import CapitalFlow

ADOPTED = "adopted"  # the strategy tag of holdings adopted from the broker (qts.execution.oms)


def book_entries(flow: CapitalFlow, entries: Sequence[BookedEntry]) -> None:
    book = flow.book
    assert book is not None
    for be in entries:
        e = be.entry
        if e.seq <= flow.ledger_seq:
            continue
        flow.ledger_seq = e.seq
        if e.strategy == ADOPTED:
            # holdings adopted from the broker at start-up: the opening allocation counted
            # them as the track's positions and the account's cash never paid for them here
            continue
        book[be.track].cash += e.net_amount
        if e.side is OrderSide.BUY:
            if e.position_after == e.qty:
                flow.opened[e.symbol] = e.ts.isoformat()
            continue
        held = 0.0
        if e.position_after == 0:
            opened = flow.opened.pop(e.symbol, None)
            if opened:
                held = (e.ts - datetime.fromisoformat(opened)).total_seconds() / 86_400
        trades = flow.trades.setdefault(be.track, [])
        closed = ClosedTrade(e.ts.date(), e.pnl, held)
        trades.append(closed)
        flow.windows_version += 1
        flow._tail["trades"].setdefault(be.track.value, []).append(_trade_row(closed))
        flow.tail_rows += 1
        if len(trades) > TRADES_WINDOW:
            del trades[:-TRADES_WINDOW]
        streak = flow.loss_streak.get(be.track, 0)
        flow.loss_streak[be.track] = streak + 1 if e.pnl < 0 else 0


def cover_overdrafts(
    flow: CapitalFlow, ts: datetime, codes: list[tuple[str, str]]
) -> list[Transfer]:
    """A pool whose buy filled above the price it was sized at is topped up by the pool with
    the most cash, so no pool's available capital is negative."""
    book = flow.book
    assert book is not None
    out = []
    for t in POOLS:
        short = -book[t].cash
        if short <= 0 or book[t].locked:
            continue
        donor = max(
            (d for d in POOLS if d is not t and not book[d].locked),
            key=lambda d: book[d].cash,
            default=None,
        )
        if donor is None or book[donor].cash < short:
            continue
        try:
            out.append(book.transfer(donor, t, short, "COVER", f"{t} overdrawn", ts))
        except TransferError as exc:
            codes.append(("FS083", str(exc)))
    return out
