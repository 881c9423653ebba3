"""Which store a run keeps its books in: the ``data`` section of the configuration.

- ``sqlite`` (default): the ``--db`` file.
- ``postgres``: the database at ``data.dsn`` (or ``QTS_PG_DSN``), schema ``data.pg_schema``.
- ``sheets``: the Google spreadsheet of ``GOOGLE_SHEET_KEY`` / ``GOOGLE_CREDENTIALS_FILE``.
- ``hybrid``: both, through a durable outbox; ``data.hybrid_mode`` is the migration's switch:
  ``SHEETS_ONLY`` (also the rollback), ``DUAL_WRITE`` (reads from Sheets), ``DB_PRIMARY`` (reads
  from the database), ``DB_ONLY`` (the cutover). Changing it is a configuration change: pending
  writes of either side stay in the outbox and are flushed, so nothing is lost; a side that
  missed writes (e.g. the database after a SHEETS_ONLY period) is refused as a write target until
  ``qts db migrate-from-sheets`` has caught it up (docs/runbooks/migration.md). DB_ONLY is
  refused until the daily consistency check (which ``qts run`` runs, qts.app.cutover) has
  recorded 14 consecutive clean days (CD-001); the refusal names the days still missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from qts.config.models import DataSection
from qts.data.market_ports import MarketDataStore
from qts.data.ports import TradingStore


def open_store(
    data: DataSection, db: Path | None, durable: bool, now: datetime | None = None
) -> TradingStore | None:
    """The configured store, or None for the caller's default (SQLite at ``db`` or memory).
    ``now``: the run's time, for the DB_ONLY gate (default: the wall clock)."""
    if data.backend == "sqlite":
        return None
    if data.backend == "postgres":
        return _postgres(data, durable)
    if data.backend == "sheets":
        from qts.data.sheets import SheetsStore

        return SheetsStore.from_env()
    from qts.app.cutover import check_cutover
    from qts.data.hybrid import HybridStore, Outbox
    from qts.data.hybrid.checker import DEFAULT_REQUIRED_DAYS
    from qts.data.sheets import SheetsStore

    outbox_path = Path(data.outbox) if data.outbox else Path(f"{db or 'var/qts'}.outbox")
    outbox_path.parent.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(outbox_path)
    try:
        check_cutover(outbox, data.hybrid_mode, now or datetime.now(UTC), DEFAULT_REQUIRED_DAYS)
    except BaseException:
        outbox.close()
        raise
    return HybridStore(SheetsStore.from_env(), _postgres(data, durable), outbox, data.hybrid_mode)


def _postgres(data: DataSection, durable: bool) -> TradingStore:
    from qts.data.postgres import PostgresStore

    # the run writes these books: one writer per schema (ADR 0016)
    return PostgresStore(data.dsn, schema=data.pg_schema, durable=durable, writer=True)


def open_books(data: DataSection, db: Path, now: datetime | None = None) -> TradingStore:
    """A durable run's books: the configured store, or SQLite books at ``db`` holding their
    writer lock (ADR 0016) — opened before anything else, so a second run on the same books is
    refused before it touches a file beside them or the broker."""
    store = open_store(data, db, durable=True, now=now)
    if store is not None:
        return store
    from qts.data.sqlite import SqliteStore

    return SqliteStore(str(db), durable=True, writer=True)


def open_market_store(db: Path | None, books: TradingStore | None = None) -> MarketDataStore | None:
    """Where execution feedback goes: ``feedback_data`` in the schema of books kept in
    PostgreSQL (``books``: the run's configured store), else ``<db>.market`` next to a durable
    run's books, nothing for a memory run."""
    if books is not None:
        from qts.app.recorder import postgres_database

        database = postgres_database(books)
        if database is not None:
            from qts.data.postgres import PostgresMarketStore

            return PostgresMarketStore(database)
    if db is None:
        return None
    from qts.data.sqlite_market import SqliteMarketStore

    return SqliteMarketStore(Path(f"{db}.market"))
