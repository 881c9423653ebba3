"""The trading day of a long-running broker run: its chores at the pre-open and at the close.

``qts run --broker kis|kiwoom`` runs for days. Between sessions it idles (the feed has no prints;
nights, weekends and holidays pass without a restart). The KRX calendar decides when a day's
chores are due, by the run's clock (the venue's time), so a test drives them on a fast
simulated clock:

* **pre-open** (08:30 KST of a trading day): make sure the broker token is fresh, reconcile the
  books with the broker (fills made while the run idled are booked once, orders it no longer
  knows are closed; a mismatch raises FS070), and report the subscriptions.
* **close** (the session's close): cancel the day orders still open (KRX expires them anyway;
  the cancel makes it explicit and books it), wait (at most ``CANCEL_WAIT_S``) for the venue to
  confirm the cancels, then write the day's report — fills, fees, realized and day PnL, orders
  by status, safety events — to the store (state ``day_report:<date>``) and to
  ``var/reports/<run>-<date>.json``. An order whose cancel the venue has not confirmed by then
  is counted as ``CANCEL_REQUESTED``, never as still working (``SUBMITTED``).

Each chore runs once per day: what was done is kept in the store (state ``trading_day``), so a
restart in the afternoon does not reconcile "before the pre-open" again and a restart after the
close still writes the day's report once. The chores run on the ETEDA loop's thread, between
cycles, never concurrently with one, and by the venue's time once a print has told it: a run
started while the market is closed does the pre-open work at its start (the adapter's token,
reconciliation, subscriptions) and its first chores after the venue's next print.
"""

from __future__ import annotations

import json
import logging
import time as _time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any

from qts.core.clock import Clock
from qts.core.time import KST
from qts.data.ports import TradingStore
from qts.market.krx.calendar import KrxCalendar

if TYPE_CHECKING:
    from qts.app.live_books import LiveBooks
    from qts.app.wiring import Engine

log = logging.getLogger(__name__)
SETTLE_EVERY_S = 1.0  # between bars, the broker's reports are booked at least this often
STATE_KEY = "trading_day"
REPORT_KEY = "day_report:"
CANCEL_WAIT_S = 5.0  # at the close: how long the report waits for the venue's CANCELED notices
CANCEL_POLL_S = 0.05
CANCEL_REQUESTED = "CANCEL_REQUESTED"  # the day report's bucket: canceled at the close, unconfirmed


@dataclass(frozen=True, slots=True)
class Chore:
    kind: str  # "pre_open" | "close"
    day: date
    at: datetime


class TradingDay:
    """Which chore is due, by the KRX calendar and the clock; remembers what was done."""

    def __init__(self, calendar: KrxCalendar, store: TradingStore) -> None:
        self.calendar = calendar
        self.store = store
        saved = store.load_state(STATE_KEY) or {}
        self.done: dict[str, str] = {k: str(v) for k, v in saved.items()}

    def chores_of(self, day: date) -> list[Chore]:
        if not self.calendar.is_trading_day(day):
            return []
        session = self.calendar.session(day)
        return [
            Chore("pre_open", day, session.pre_open_auction_start),
            Chore("close", day, session.close),
        ]

    def due(self, now: datetime, watched_since: datetime | None = None) -> list[Chore]:
        """The chores whose time has come and that were not done yet, oldest first: today's,
        and those of earlier days whose time passed while the run watched the clock (after
        ``watched_since``): a close the clock stepped over (the last print of a day, then at
        once the next day's first, as a fast replay has it) is still the run's to do. A day
        the run slept through entirely has no chores left to do."""
        today = now.astimezone(KST).date()
        days = [today]
        if watched_since is not None:
            day = watched_since.astimezone(KST).date()
            earlier = []
            while day < today:
                earlier.append(day)
                day = self.calendar.next_trading_day(day)
            days = earlier + days
        out = []
        for d in days:
            for chore in self.chores_of(d):
                if chore.at > now or self.done.get(chore.kind, "") >= chore.day.isoformat():
                    continue
                if d == today or (watched_since is not None and chore.at > watched_since):
                    out.append(chore)
        return out

    def mark(self, chore: Chore) -> None:
        self.done[chore.kind] = chore.day.isoformat()
        self.store.save_state(STATE_KEY, dict(self.done))

    def next_chore(self, now: datetime) -> Chore:
        """The next chore after ``now`` (for the console: what the run waits for)."""
        day = now.astimezone(KST).date()
        while True:
            for chore in self.chores_of(day):
                if chore.at > now:
                    return chore
            day = self.calendar.next_trading_day(day)


@dataclass(slots=True)
class DayReport:
    """One trading day of the books."""

    day: str
    run_id: str
    fills: int = 0
    buys: int = 0
    sells: int = 0
    bought_krw: int = 0
    sold_krw: int = 0
    commission: int = 0
    tax: int = 0
    realized_pnl: int = 0
    start_equity: int | None = None
    end_equity: int | None = None
    day_pnl: int | None = None
    orders: dict[str, int] = field(default_factory=dict)  # by status
    canceled_at_close: int = 0
    safety_state: str = ""
    safety_events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def day_report(
    store: TradingStore,
    run_id: str,
    day: date,
    canceled: int,
    safety_state: str,
    cancel_requested: Collection[str] = (),
) -> DayReport:
    """The day's figures, from the books alone (what a restart would find). The orders in
    ``cancel_requested`` (client order ids) whose cancel the venue has not confirmed yet are
    counted as ``CANCEL_REQUESTED``, not by their stored (still open) status."""
    report = DayReport(day.isoformat(), run_id, canceled_at_close=canceled)
    report.safety_state = safety_state
    for e in store.load_ledger():
        if e.ts.astimezone(KST).date() != day:
            continue
        report.fills += 1
        if e.side.value == "BUY":
            report.buys += 1
            report.bought_krw += e.amount
        else:
            report.sells += 1
            report.sold_krw += e.amount
        report.commission += e.commission
        report.tax += e.tax
        report.realized_pnl += e.pnl
    for o in store.load_orders():
        if o.created_at.astimezone(KST).date() == day:
            pending = o.status.is_open and o.client_order_id in cancel_requested
            status = CANCEL_REQUESTED if pending else o.status.value
            report.orders[status] = report.orders.get(status, 0) + 1
    points = [p for p in store.load_equity() if p.ts.astimezone(KST).date() == day]
    if points:
        report.start_equity, report.end_equity = points[0].equity, points[-1].equity
        report.day_pnl = report.end_equity - report.start_equity
    for ev in store.load_safety_events(None):
        if ev.ts.astimezone(KST).date() == day:
            report.safety_events.append(
                {"ts": ev.ts.isoformat(), "kind": ev.kind, "code": ev.code, "message": ev.message}
            )
    return report


def write_report(store: TradingStore, report: DayReport, folder: Path) -> Path:
    """Keep the report in the store and as a JSON file; returns the file."""
    data = report.to_json()
    store.save_state(REPORT_KEY + report.day, data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.run_id}-{report.day}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


class DayChores:
    """Runs the due chores of a run: called between cycles and while the feed idles."""

    def __init__(
        self,
        day: TradingDay,
        clock: Clock,
        *,
        pre_open: Callable[[Chore], str],
        close: Callable[[Chore], str],
        echo: Callable[[str], None] = print,
    ) -> None:
        self.day = day
        self.clock = clock
        self.actions = {"pre_open": pre_open, "close": close}
        self.echo = echo
        self.ran: list[Chore] = []
        self.watched: datetime | None = None  # every chore due up to here has run

    def __call__(self) -> None:
        now = self.clock.now()
        for chore in self.day.due(now, self.watched):
            try:
                summary = self.actions[chore.kind](chore)
            except Exception as exc:  # a failed chore is retried at the next poll
                log.exception("%s chore of %s failed", chore.kind, chore.day)
                self.echo(f"{chore.kind} {chore.day}: failed ({type(exc).__name__}: {exc})")
                return
            self.day.mark(chore)
            self.ran.append(chore)
            self.echo(f"{chore.kind.replace('_', '-')} {chore.day}: {summary}")
        self.watched = now


def service_chores(
    engine: Engine,
    books: LiveBooks,
    calendar: KrxCalendar,
    clock: Clock,
    echo: Callable[[str], None],
    every_s: float = SETTLE_EVERY_S,
    cancel_wait_s: float = CANCEL_WAIT_S,
) -> Callable[[], None]:
    """What a broker run does between bars: book the broker's reports (fills and expiries
    after the close, at night) and run the day's chores when they are due."""
    oms, safety = engine.oms, engine.runner.safety

    def pre_open(chore: Chore) -> str:
        oms.broker.balance()  # any call renews a token close to expiry first
        # what the adapter has to report is booked first: a poll now (an adapter that polls,
        # Kiwoom: it reads the last day once more when its day has turned), then its queue (a
        # fill it read while the close's cancels ran is not a mismatch)
        catch_up = getattr(oms.broker, "sync", None)
        if callable(catch_up):
            catch_up()
        settle()
        r = oms.reconcile(clock.now(), cancel_unknown=True)
        if not r.clean:
            safety.report("FS070", "reconciliation at the pre-open: " + "; ".join(r.problems))
        return (
            f"token fresh; reconciled: {r.fills_booked} fill(s) booked, {r.orders_updated} "
            f"order(s) updated, {len(r.orders_canceled)} canceled as unknown, "
            f"{len(r.problems)} problem(s)"
        )

    def close(chore: Chore) -> str:
        still_open = oms.open_orders()
        oms.cancel_open(clock.now(), "day end: unfilled day order canceled at the close")
        unconfirmed = settle_cancels([o.client_order_id for o in still_open])
        report = day_report(
            engine.store,
            oms.run_id,
            chore.day,
            len(still_open),
            safety.state.value,
            cancel_requested=unconfirmed,
        )
        path = write_report(engine.store, report, books.db.parent / "reports")
        waiting = f" ({len(unconfirmed)} not confirmed yet)" if unconfirmed else ""
        return (
            f"{len(still_open)} open order(s) canceled{waiting}; {report.fills} fill(s), fees "
            f"{report.commission + report.tax:,} KRW, day PnL {report.day_pnl or 0:,} KRW; "
            f"report {path}"
        )

    def settle() -> None:
        engine.spine.settle(oms.broker.drain_events())

    def settle_cancels(ids: list[str]) -> set[str]:
        """Book the venue's reports until none of ``ids`` is open or ``cancel_wait_s`` has
        passed (a real venue's CANCELED notice comes after its ack); the ids still open."""
        deadline = _monotonic() + cancel_wait_s
        while True:
            settle()
            left = {i for i in ids if (o := oms.orders.get(i)) is not None and o.status.is_open}
            if not left or _monotonic() >= deadline:
                return left
            _time.sleep(CANCEL_POLL_S)

    day = TradingDay(calendar, engine.store)
    for chore in day.due(clock.now()):
        if chore.kind == "pre_open":  # the start did it: token, reconciliation, subscriptions
            day.mark(chore)
    chores = DayChores(day, clock, pre_open=pre_open, close=close, echo=echo)
    last = [float("-inf")]

    def idle() -> None:
        now = _monotonic()
        if now - last[0] < every_s:
            return
        last[0] = now
        settle()
        if getattr(clock, "anchored", True):  # the venue's time is known (from its prints)
            chores()

    return idle
