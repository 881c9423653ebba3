"""The operator's surface of a running engine, started and stopped with ``qts run`` in every
mode: the web dashboard (with ``/health`` and ``/metrics``), alerts and scheduled backups.

Nothing here may stop trading: a dashboard that cannot bind, an alert service that is down or a
backup that fails is reported and the run goes on. Only configuration that would expose the run
(a non-loopback dashboard without a token) or silence it (an alert channel without its
credential) is refused, before the run starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from qts.app.paper import session_view
from qts.app.wiring import Engine
from qts.config.models import QtsConfig
from qts.core.clock import WallClock
from qts.core.errors import ConfigError
from qts.data.sqlite import SqliteStore
from qts.ops.alerts import Alert, AlertRouter, channels_from_config
from qts.ops.alerts.day_report import day_report
from qts.ops.alerts.router import DayEnd, HeartbeatWatch
from qts.ops.backup import backup_postgres, backup_sqlite, default_dir, prune
from qts.ops.scheduler import Scheduler
from qts.ui.cache import ViewCache
from qts.ui.live import EngineOverlay
from qts.ui.report_sheets import ReportSheets
from qts.ui.server import TOKEN_ENV, DashboardServer, check_binding, serve_engine
from qts.ui.view import ViewBuilder

DAY_END_SLACK = timedelta(minutes=1)  # the last bar of a session ends a minute before its close


def start_problems(config: QtsConfig) -> list[ConfigError]:
    """What must not start, the environment's secrets included (``qts config check`` lists them)."""
    out: list[ConfigError] = []
    section = config.dashboard
    if section.enabled:
        try:
            check_binding(section.host, os.environ.get(TOKEN_ENV) or section.token)
        except ConfigError as e:
            out.append(e)
    _, problems = channels_from_config(config.alerts)
    if problems:
        out.append(ConfigError("Config_Local", "alerts", "; ".join(problems)))
    return out


def validate(config: QtsConfig) -> None:
    """Refuse what must not start (raises the first ConfigError)."""
    problems = start_problems(config)
    if problems:
        raise problems[0]


@dataclass(slots=True)
class OperatorSurface:
    config: QtsConfig
    echo: Callable[[str], None] = print
    dashboard: DashboardServer | None = None
    alerts: AlertRouter | None = None
    report_sheets: ReportSheets | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        view = session_view(engine.calendar)
        self.dashboard = serve_engine(
            engine,
            self.config.dashboard,
            max_feed_age_s=timedelta(seconds=self.config.safety.max_data_age_s).total_seconds(),
            session_open=lambda ts: view(ts).open,
            echo=self.echo,
            backend=self.config.data.backend,
        )
        self._attach_alerts(engine, lambda ts: view(ts).open)
        self._attach_backups(engine)
        self._attach_report_sheets(engine)

    def _attach_report_sheets(self, engine: Engine) -> None:
        section = self.config.dashboard
        if not section.sheets:
            return
        from qts.data.sheets.client import SheetsClient

        cache = (
            self.dashboard.cache
            if self.dashboard is not None
            else ViewCache(ViewBuilder(engine.store, EngineOverlay(engine)))
        )
        client = SheetsClient.from_env()
        writer = ReportSheets(client, cache, self.config.risk, WallClock().now)
        scheduler = Scheduler(poll_s=1.0)
        scheduler.every("report sheets", section.sheets_interval_s, writer.write)
        scheduler.start()

        def stop() -> None:
            scheduler.stop()
            writer.write()  # the last state, once the run stopped
            client.close()

        self.closers.append(stop)
        self.report_sheets = writer
        self.echo(f"report sheets: every {section.sheets_interval_s:g} s at most")

    def _attach_backups(self, engine: Engine) -> None:
        section = self.config.backup
        if section.interval_min <= 0:
            return
        store = engine.store
        job: Callable[[], object]
        if isinstance(store, SqliteStore) and store.path != ":memory:":
            db = Path(store.path)
            where = Path(section.dir) if section.dir else default_dir(db)

            def job() -> object:
                made = backup_sqlite(db, where)
                prune(where, section.keep)
                return made

        elif self.config.data.backend == "postgres":
            data = self.config.data
            dsn = data.dsn or os.environ.get("QTS_PG_DSN", "")
            where = Path(section.dir or "var/postgres.backups")

            def job() -> object:
                made = backup_postgres(dsn, data.pg_schema, where)
                prune(where, section.keep)
                return made

        else:
            self.echo(f"scheduled backups: not available for the {self.config.data.backend} store")
            return
        scheduler = Scheduler(poll_s=1.0)
        scheduler.every("backup", section.interval_min * 60.0, job)
        self.closers.append(scheduler.start().stop)
        self.echo(
            f"backups: every {section.interval_min:g} min into {where}, keeping {section.keep}"
        )

    def _attach_alerts(self, engine: Engine, session_open: Callable[[datetime], bool]) -> None:
        section = self.config.alerts
        channels, _ = channels_from_config(section)
        if not channels:
            return
        router = self.alerts = AlertRouter(channels, fills=section.fills)
        engine.runner.safety.notifiers.append(router)
        calendar = engine.calendar

        def close_of(day: date) -> datetime | None:
            if not calendar.is_trading_day(day):
                return None
            return calendar.session(day).close - DAY_END_SLACK

        def report(day: date) -> Alert:
            return day_report(engine.store, day)

        day_end = DayEnd(router, close_of, report if section.end_of_day else None)
        engine.spine.ui.append(day_end.on_cycle)
        if section.heartbeat_s > 0:
            overlay = EngineOverlay(engine)
            watch = HeartbeatWatch(
                router,
                overlay.feed_age_s,
                lambda: session_open(engine.trading_clock.now()),
                section.heartbeat_s,
            ).start()
            self.closers.append(watch.stop)
        self.echo(f"alerts: {', '.join(c.name for c in channels)}")

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None
        if self.alerts is not None:
            self.alerts.flush()
            self.alerts.close()
            self.alerts = None
