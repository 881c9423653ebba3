"""``qts dashboard``: the web dashboard over a run's store, without the run.

Reads the books a running (or stopped) process keeps: SQLite (``--db``, read alongside the writer
thanks to WAL) or PostgreSQL (``--dsn``). Recovery approvals are recorded in that store, and the
run applies them at its next cycle, exactly as with ``qts safety approve-recovery``.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from qts.cli import options, paths
from qts.core.errors import InputError
from qts.data.ports import TradingStore
from qts.ui.cache import ViewCache
from qts.ui.server import TOKEN_ENV, DashboardServer
from qts.ui.view import ViewBuilder


def open_store(db: Path | None, dsn: str | None, schema: str) -> TradingStore:
    if (db is None) == (dsn is None):
        raise InputError("qts dashboard", None, "give exactly one of --db PATH or --dsn DSN")
    if db is not None:
        # read-write only for the recovery approvals it records; never created nor migrated
        return paths.open_books(db, write=True)
    from qts.data.postgres import PostgresStore

    return PostgresStore(dsn, schema=schema)


def dashboard(
    db: Annotated[Path | None, typer.Option(help="The run's SQLite database.")] = None,
    dsn: Annotated[str | None, typer.Option(help="PostgreSQL DSN of the run's store.")] = None,
    schema: Annotated[str, typer.Option(help="PostgreSQL schema.")] = "qts",
    host: Annotated[str, typer.Option(help="Bind address; not loopback needs a token.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
) -> None:
    """Serve the dashboard of a store until Ctrl-C (token from QTS_DASHBOARD_TOKEN)."""
    options.host(host)
    options.schema(schema)
    store = open_store(db, dsn, schema)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        try:
            server = DashboardServer(
                ViewCache(ViewBuilder(store), max_age_s=1.0),
                host=host,
                port=port,
                token=os.environ.get(TOKEN_ENV),
            ).start()
        except OSError as exc:  # the address is not this machine's, or the port is taken
            reason = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise InputError("--host/--port", None, reason) from None
        typer.echo(f"dashboard: {server.url} (Ctrl-C stops)", err=False)
        try:
            stop.wait()
        finally:
            server.stop()
    finally:
        store.close()
