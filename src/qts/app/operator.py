"""The operator's surface of a running engine, started and stopped with ``qts run`` in every
mode: the web dashboard (with ``/health`` and ``/metrics``), alerts and scheduled backups.

Nothing here may stop trading: a dashboard that cannot bind, an alert service that is down or a
backup that fails is reported and the run goes on. Only configuration that would expose the run
(a non-loopback dashboard without a token) is refused, before the run starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from qts.app.paper import session_view
from qts.app.wiring import Engine
from qts.config.models import QtsConfig
from qts.ui.server import TOKEN_ENV, DashboardServer, check_binding, serve_engine


def validate(config: QtsConfig) -> None:
    """Refuse what must not start (raises ConfigError)."""
    if config.dashboard.enabled:
        check_binding(config.dashboard.host, os.environ.get(TOKEN_ENV) or config.dashboard.token)


@dataclass(slots=True)
class OperatorSurface:
    config: QtsConfig
    echo: Callable[[str], None] = print
    dashboard: DashboardServer | None = None
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

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None
