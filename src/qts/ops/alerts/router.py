"""Which events become alerts, and to whom: every channel gets every alert.

- safety: transitions (NORMAL→WARNING→FAIL→LOCKDOWN and back) and recovery approvals; codes
  that change nothing stay in the history and the log;
- fills: each fill booked, when ``alerts.fills`` is on;
- the end-of-day report, once per trading day, from the first cycle at or after the close;
- a missed heartbeat: no cycle for ``alerts.heartbeat_s`` while the session is open (once per
  silence; re-armed by the next cycle).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime

from qts.engines.contracts import CycleReport
from qts.model.fill import Fill
from qts.ops.alerts.channels import Alert, Channel
from qts.safety.notifier import PostQueue, format_event
from qts.safety.state import SafetyEvent

log = logging.getLogger(__name__)
SAFETY_KINDS = ("recovery_requested", "recovery")


class AlertRouter:
    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        fills: bool = False,
        poster: PostQueue | None = None,
    ) -> None:
        self.channels = list(channels)
        self.fills = fills
        self.poster = poster or PostQueue("alerts")
        self.sent: list[Alert] = []  # what was handed to the channels (for the operator's log)

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        for channel in self.channels:
            url, body, check = channel.request(alert)
            self.poster.post(url, body, check, label=f"{channel.name} alert")

    # safety Notifier protocol
    def notify(self, event: SafetyEvent) -> None:
        if not (event.transition or event.kind in SAFETY_KINDS):
            return
        self.send(
            Alert(
                "safety",
                f"safety {event.state_after}" + (f" ({event.code})" if event.code else ""),
                format_event(event),
                {
                    "code": event.code,
                    "state_before": event.state_before.value,
                    "state_after": event.state_after.value,
                    "ts": event.ts.isoformat(),
                },
            )
        )

    def on_fill(self, fill: Fill) -> None:
        if not self.fills:
            return
        self.send(
            Alert(
                "fill",
                f"fill {fill.side.value} {fill.symbol} {fill.qty:,} @ {fill.price:,}",
                f"{fill.ts:%Y-%m-%d %H:%M:%S} fees {fill.commission + fill.tax:,} KRW",
                {
                    "symbol": fill.symbol,
                    "side": fill.side.value,
                    "qty": fill.qty,
                    "price": fill.price,
                    "ts": fill.ts.isoformat(),
                },
            )
        )

    def flush(self) -> None:
        self.poster.flush()

    def close(self) -> None:
        self.poster.close()


class DayEnd:
    """Passes the cycle's fills on, and sends the day report (``report``; None: off) once per
    trading day, from the first cycle at or after ``close_of(day)``."""

    def __init__(
        self,
        router: AlertRouter,
        close_of: Callable[[date], datetime | None],
        report: Callable[[date], Alert] | None,
    ) -> None:
        self.router = router
        self.close_of = close_of
        self.report = report
        self.reported: set[date] = set()

    def on_cycle(self, report: CycleReport, fills: list[Fill]) -> None:
        for f in fills:
            self.router.on_fill(f)
        if self.report is None:
            return
        day = report.ts.date()
        close = self.close_of(day)
        if close is not None and report.ts >= close and day not in self.reported:
            self.reported.add(day)
            self.router.send(self.report(day))


class HeartbeatWatch:
    """A thread that alerts when no cycle ran for ``limit_s`` while the session is open."""

    def __init__(
        self,
        router: AlertRouter,
        age_s: Callable[[], float],
        in_session: Callable[[], bool],
        limit_s: float,
        poll_s: float = 1.0,
    ) -> None:
        self.router = router
        self.age_s = age_s
        self.in_session = in_session
        self.limit_s = limit_s
        self.poll_s = min(poll_s, limit_s / 4)
        self.missed = 0
        self._armed = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat-watch", daemon=True)

    def start(self) -> HeartbeatWatch:
        self._thread.start()
        return self

    def check(self) -> None:
        age = self.age_s()
        if age <= self.limit_s:
            self._armed = True
        elif self._armed and self.in_session():
            self._armed = False
            self.missed += 1
            self.router.send(
                Alert(
                    "heartbeat",
                    "missed heartbeat",
                    f"no trading cycle for {age:.0f} s (limit {self.limit_s:g} s) in session",
                    {"age_s": round(age, 1), "limit_s": self.limit_s},
                )
            )

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:  # the watch must outlive a bad read
                log.exception("heartbeat check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
