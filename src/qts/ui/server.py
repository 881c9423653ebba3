"""Serve the dashboard from a thread of the trading process (or of ``qts dashboard``).

Bound to 127.0.0.1 by default. Binding anywhere else exposes the books and the recovery
approval to the network, so it needs a token: without one the server refuses to start.
The socket is bound here, before the server thread starts, so a taken port is an error the
caller sees at once (the run then goes on without a dashboard, see :func:`serve_engine`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import uvicorn

from qts.core.errors import ConfigError
from qts.ui.app import create_app
from qts.ui.cache import ViewCache
from qts.ui.live import EngineOverlay
from qts.ui.view import ViewBuilder

if TYPE_CHECKING:
    from qts.app.wiring import Engine
    from qts.config.ops import DashboardSection

log = logging.getLogger(__name__)
TOKEN_ENV = "QTS_DASHBOARD_TOKEN"  # noqa: S105 - the variable's name, not a token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise ConfigError(
            "Config_Local",
            "dashboard.host",
            f"{host} is reachable from other machines: set {TOKEN_ENV} (or dashboard.token)",
        )


class DashboardServer:
    def __init__(
        self,
        cache: ViewCache,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        max_feed_age_s: float = 300.0,
        session_open: Callable[[datetime], bool] | None = None,
    ) -> None:
        check_binding(host, token)
        self.cache = cache
        self.host = host
        self.stopping = threading.Event()
        app = create_app(
            cache,
            token=token,
            max_feed_age_s=max_feed_age_s,
            session_open=session_open,
            stopping=self.stopping,
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="dashboard", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> DashboardServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._sock.close()


def serve_engine(
    engine: Engine,
    section: DashboardSection,
    *,
    max_feed_age_s: float = 300.0,
    session_open: Callable[[datetime], bool] | None = None,
    echo: Callable[[str], None] = print,
    backend: str = "sqlite",
) -> DashboardServer | None:
    """The dashboard of a running engine, as configured; None when disabled or when the port is
    taken (trading goes on: a dashboard must never stop it). A missing token for a non-loopback
    host is a configuration error, raised before the run trades."""
    if not section.enabled:
        return None
    token = os.environ.get(TOKEN_ENV) or section.token
    check_binding(section.host, token)
    cache = ViewCache(
        ViewBuilder(engine.store, EngineOverlay(engine)),
        # the Sheets API has a quota: a store behind it is read every 10 s at most
        min_interval_s=10.0 if backend in ("sheets", "hybrid") else 0.25,
    )
    try:
        server = DashboardServer(
            cache,
            host=section.host,
            port=section.port,
            token=token,
            max_feed_age_s=max_feed_age_s,
            session_open=session_open,
        ).start()
    except (OSError, RuntimeError) as exc:
        echo(f"dashboard not started ({section.host}:{section.port}: {exc}); trading goes on")
        return None
    echo(f"dashboard: {server.url}")
    return server
