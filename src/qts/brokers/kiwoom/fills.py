"""QTS fills from Kiwoom's execution rows: their ids, their order, their share of the fees.

Kiwoom reports fees per order (ka10076), not per execution, so the fills of one order share
them; and a fill's id is built from the day, the order number and the execution number, so
that a restarted broker (or ``fills()`` after the poller) names the same execution the same way.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from qts.brokers.kiwoom import mapping as m
from qts.core.time import KST
from qts.model.fill import Fill

log = logging.getLogger("qts.brokers.kiwoom.broker")  # the broker's messages, under its name


def make_fills(day: str, coid: str, rows: list[m.FillRow], fees: tuple[int, int]) -> list[Fill]:
    """Fills for ``rows`` of one order, sharing ``fees`` by amount (remainder to the last)."""
    total = sum(r.qty * r.price for r in rows) or 1
    left_c, left_t = fees
    out: list[Fill] = []
    trade_day = date_of(day)
    for i, r in enumerate(rows):
        last = i == len(rows) - 1
        c = left_c if last else fees[0] * r.qty * r.price // total
        t = left_t if last else fees[1] * r.qty * r.price // total
        left_c -= c
        left_t -= t
        if r.qty <= 0 or r.price <= 0:
            log.warning("kiwoom: execution %s of %s has no qty/price; skipped", r.cntr_no, r.ord_no)
            continue
        ts = datetime.combine(trade_day, r.at, tzinfo=KST)
        out.append(Fill(fill_id(day, r), coid, r.symbol, r.side, r.qty, r.price, ts, c, t))
    return out


def fill_key(r: m.FillRow) -> tuple[str, str]:
    return (r.cntr_no.zfill(12), r.at.isoformat())


def venue_order(f: Fill) -> tuple[datetime, str]:
    """Fills in the order the venue executed them: time, then execution number."""
    return f.ts, f.fill_id.rsplit("-", 1)[-1].zfill(12)


def fill_id(day: str, r: m.FillRow) -> str:
    return f"KW{day}-{r.ord_no}-{r.cntr_no}"


def date_of(day: str) -> date:
    return date(int(day[:4]), int(day[4:6]), int(day[6:]))
