"""The account inquiries the broker reads, parsed: open orders, order rows, executions, fees.

Kept apart from the broker because every path that asks Kiwoom what happened (the poller, a
lookup after an unanswered call, ``open_orders``/``fills``) reads the same few lists the same
way; a row Kiwoom sends that does not parse is a protocol error, whichever path read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.errors import KiwoomProtocolError
from qts.brokers.kiwoom.rest import KiwoomRestClient
from qts.core.errors import InputError
from qts.core.time import KST


@dataclass(slots=True)
class Venue:
    """One consistent read of the account: open orders, order rows, executions."""

    day: str
    open: dict[str, m.OpenRow]
    rows: list[m.OrderRow]
    fills: list[m.FillRow]

    def filled(self, ord_nos: Iterable[str]) -> int:
        chain = set(ord_nos)
        return sum(f.qty for f in self.fills if f.ord_no in chain)

    def cancelled(self, ord_no: str) -> int:
        return sum(
            r.confirmed_qty or r.qty
            for r in self.rows
            if r.kind is m.RowKind.CANCEL and r.orig_ord_no == ord_no
        )

    def refused(self, ord_no: str) -> bool:
        return any(r.refused and r.ord_no == ord_no for r in self.rows)


def read_venue(rest: KiwoomRestClient, now: datetime) -> Venue:
    """Open orders first, then order rows, then executions: an order missing from the open
    list is explained by the later reads. The order rows and executions are those of ``now``'s
    day, the day their fills are dated by (Kiwoom's own day may already be the next one)."""
    day = day_of(now)
    open_rows = read_open_rows(rest)
    rows = read_order_rows(rest, day)
    fills = read_fill_rows(rest, day)
    return Venue(day, open_rows, rows, fills)


def read_open_rows(rest: KiwoomRestClient) -> dict[str, m.OpenRow]:
    _, rows = rest.call_all(m.ACCOUNT_PATH, m.OPEN_ORDERS, m.OPEN_ORDERS_QUERY, "oso")
    return {r.ord_no: r for r in parse_rows(rows, m.open_row, m.OPEN_ORDERS) if r.open_qty > 0}


def read_order_rows(rest: KiwoomRestClient, day: str) -> list[m.OrderRow]:
    return parse_rows(_orders_fills(rest, day, fills_only=False), m.order_row, m.ORDERS_FILLS)


def read_fill_rows(rest: KiwoomRestClient, day: str) -> list[m.FillRow]:
    rows = _orders_fills(rest, day, fills_only=True)
    return [f for f in parse_rows(rows, m.fill_row, m.ORDERS_FILLS) if f.qty > 0]


def _orders_fills(rest: KiwoomRestClient, day: str, *, fills_only: bool) -> list[dict[str, Any]]:
    """Every row of kt00009 on ``day`` (``YYYYMMDD``, ``ord_dt``): the order rows, or one row
    per execution. The day is always named: the orders of the day the adapter dates its
    records and fills by, even when Kiwoom's day has already turned (after the close)."""
    _, rows = rest.call_all(
        m.ACCOUNT_PATH,
        m.ORDERS_FILLS,
        m.orders_query(fills_only=fills_only, day=day),
        "acnt_ord_cntr_prst_array",
    )
    return rows


def read_exec_rows(rest: KiwoomRestClient) -> dict[str, m.ExecRow]:
    _, rows = rest.call_all(m.ACCOUNT_PATH, m.EXECUTIONS, m.EXECUTIONS_QUERY, "cntr")
    return {r.ord_no: r for r in parse_rows(rows, m.exec_row, m.EXECUTIONS)}


def parse_rows(
    rows: list[dict[str, Any]], parse: Callable[[dict[str, Any]], Any], api: str
) -> list[Any]:
    out = []
    for row in rows:
        try:
            out.append(parse(row))
        except InputError as exc:
            raise KiwoomProtocolError(f"kiwoom {api}: {exc}", api_id=api) from exc
    return out


def day_of(ts: datetime) -> str:
    """The Kiwoom day (``YYYYMMDD``, KST) of ``ts``."""
    return m.ymd(ts.astimezone(KST).date())
