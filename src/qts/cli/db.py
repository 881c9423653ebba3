"""``qts db``: the PostgreSQL schema of QTS: its status, migrations, rollback and maintenance.

Every command takes ``--dsn`` (default ``$QTS_PG_DSN``, e.g.
``postgresql://postgres@127.0.0.1:5432/qts``) and ``--schema`` (default ``qts``). A database
that cannot be reached is reported in one line on stderr, with a non-zero exit code.
Commands that move data between stores (``migrate-from-sheets``) belong here too; they open
the database with :func:`open_database`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from qts.cli.progress import ProgressReporter
from qts.core.errors import InputError, QtsError
from qts.core.time import KST
from qts.data.postgres.database import DEFAULT_SCHEMA, ENV_DSN, PostgresDatabase

if TYPE_CHECKING:
    from qts.data.hybrid.migrate import MigrationProgress

T = TypeVar("T")

app = typer.Typer(
    help="The PostgreSQL schema: status, migrations, rollback, maintenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DsnOpt = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        envvar=ENV_DSN,
        show_envvar=True,
        help="PostgreSQL connection string, e.g. postgresql://postgres@127.0.0.1:5432/qts.",
    ),
]
SchemaOpt = Annotated[str, typer.Option("--schema", help="The QTS schema in that database.")]


def open_database(dsn: str | None, schema: str, **kwargs: Any) -> PostgresDatabase:
    """The database a command works on (StorageError, one line, if unreachable)."""
    return PostgresDatabase(dsn, schema=schema, min_size=1, max_size=2, **kwargs)


@contextmanager
def _database(dsn: str | None, schema: str, **kwargs: Any) -> Iterator[PostgresDatabase]:
    db = open_database(dsn, schema, **kwargs)
    try:
        yield db
    finally:
        db.close()


def _run(action: Callable[[], T]) -> T:
    """Run a command; a QTS error (an unreachable server, a refused migration) becomes one
    line on stderr and exit code 1, never a traceback."""
    try:
        return action()
    except QtsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    return "-" if value is None else str(value)


@app.command("status")
def status(
    dsn: DsnOpt = None,
    schema: SchemaOpt = DEFAULT_SCHEMA,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Server, mode (timescale or plain), schema version and partitions; no secrets."""

    def action() -> dict[str, Any]:
        with _database(dsn, schema) as db:
            return db.status()

    info = _run(action)
    if as_json:
        typer.echo(json.dumps(info, default=str, sort_keys=True))
        return
    for key in (
        "host",
        "port",
        "dbname",
        "user",
        "schema",
        "server_version",
        "mode",
        "schema_version",
        "latest_version",
        "pending_migrations",
        "writer",
        "timescaledb",
        "partitions",
        "default_partition_rows",
        "aggregate_watermarks",
        "note",
    ):
        if key in info:
            typer.echo(f"{key}: {_text(info[key])}")


@app.command("migrate")
def migrate(
    dsn: DsnOpt = None,
    schema: SchemaOpt = DEFAULT_SCHEMA,
    to: Annotated[
        int | None, typer.Option("--to", min=0, help="Stop at this version (default: latest).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="auto, plain or timescale; only used when creating the schema.")
    ] = "auto",
) -> None:
    """Apply the missing migrations (running it twice does nothing the second time)."""

    def action() -> tuple[list[int], tuple[int, Any], str]:
        if mode not in ("auto", "plain", "timescale"):
            raise InputError("--mode", None, f"{mode!r} is not auto, plain or timescale")
        with _database(dsn, schema, mode=mode) as db:
            applied = db.migrate(to)
            # auto mode fell back to plain although the server has TimescaleDB: say why
            note = db.status().get("note", "") if db.timescale_note else ""
            return applied, db.version_and_mode(), note

    applied, (version, recorded), note = _run(action)
    if applied:
        typer.echo(f"applied {', '.join(map(str, applied))}: schema {schema} at version {version}")
    else:
        typer.echo(f"nothing to do: schema {schema} at version {version}")
    typer.echo(f"mode: {recorded}")
    if note:
        typer.echo(f"note: {note}")


@app.command("downgrade")
def downgrade(
    to: Annotated[int, typer.Option("--to", min=0, help="The version to go back to.")],
    dsn: DsnOpt = None,
    schema: SchemaOpt = DEFAULT_SCHEMA,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo the migrations above --to, newest first. Tables they created are dropped with
    their data: take a backup first (docs/runbooks/postgres.md)."""
    if not yes:
        typer.confirm(
            f"Drop what migrations above {to} created in schema {schema}, data included?",
            abort=True,
        )

    def action() -> tuple[list[int], int]:
        with _database(dsn, schema) as db:
            undone = db.downgrade(to)
            return undone, db.version_and_mode()[0]

    undone, version = _run(action)
    if undone:
        typer.echo(f"undid {', '.join(map(str, undone))}: schema {schema} at version {version}")
    else:
        typer.echo(f"nothing to do: schema {schema} at version {version}")


@app.command("maintain")
def maintain(
    dsn: DsnOpt = None,
    schema: SchemaOpt = DEFAULT_SCHEMA,
    now: Annotated[
        str | None, typer.Option(help="Act as of this ISO time (default: now, KST).")
    ] = None,
) -> None:
    """Create partitions ahead, drop expired ones, refresh the aggregates (what the
    scheduler runs; for cron or by hand)."""

    def action() -> dict[str, Any]:
        try:
            at = datetime.now(KST) if now is None else datetime.fromisoformat(now)
        except ValueError:
            raise InputError("--now", None, f"{now!r} is not an ISO time") from None
        if at.tzinfo is None:
            raise InputError("--now", None, f"{now!r} has no time zone")
        with _database(dsn, schema) as db:
            return db.run_maintenance(at)

    done = _run(action)
    typer.echo(f"created: {_text(done['created'])}")
    typer.echo(f"dropped: {_text(done['dropped'])}")
    typer.echo(f"deleted: {_text(done['deleted'])}")
    for item in done["refreshed"]:
        typer.echo(f"refreshed {item['aggregate']}: {_text(item['start'])} .. {_text(item['end'])}")


class _TableProgress:
    """One progress report per table the copy goes through (rows checked of the table's)."""

    def __init__(self) -> None:
        self._table: str | None = None
        self._bar: ProgressReporter | None = None

    def __enter__(self) -> _TableProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._bar is not None:
            self._bar.stop(finished=kind is None)
            self._bar = None

    def __call__(self, p: MigrationProgress) -> None:
        if p.table != self._table:
            self.close()
            self._table = p.table
            self._bar = ProgressReporter(f"copy {p.table}", total=p.total, unit="rows")
            self._bar.start()
        assert self._bar is not None
        self._bar.update(p.done, p.total, note=f"{p.copied:,} written")

    def close(self) -> None:
        self.__exit__(None)


@app.command("migrate-from-sheets")
def migrate_from_sheets(dsn: DsnOpt = None, schema: SchemaOpt = DEFAULT_SCHEMA) -> None:
    """Copy the trading history kept in Google Sheets into the database, then compare the two.

    The spreadsheet comes from ``GOOGLE_SHEET_KEY`` and ``GOOGLE_CREDENTIALS_FILE``. Running it
    again copies only what is new; a difference the copy cannot resolve is an error."""
    from qts.data.hybrid.checker import compare_stores
    from qts.data.hybrid.migrate import migrate as copy_history
    from qts.data.postgres import PostgresStore
    from qts.data.sheets import SheetsStore

    def action() -> tuple[int, int]:
        sheets = SheetsStore.from_env()
        try:
            with _database(dsn, schema, migrate=True) as db, _TableProgress() as progress:
                store = PostgresStore(db)
                keys = ("cycle_checkpoint", "safety", "safety_recovery_request")
                report = copy_history(sheets, store, state_keys=keys, progress=progress)
                progress.close()
                check = compare_stores(sheets, store, state_keys=keys)
                for difference in check.differences[:20]:
                    typer.echo(f"difference: {difference}", err=True)
                return report.total_copied, len(check.differences)
        finally:
            sheets.close()

    copied, differences = _run(action)
    typer.echo(f"copied {copied} row(s); {differences} difference(s) after the copy")
    if differences:
        raise typer.Exit(1)
