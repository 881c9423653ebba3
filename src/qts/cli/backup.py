"""``qts backup create|list|restore``: copies of a run's books, and putting one back.

SQLite (``--db``): an online backup (safe while the run trades) of the books and the simulated
venue's journal, into ``--dir`` (default ``<db>.backups``). PostgreSQL (``--dsn``): ``pg_dump`` of
the run's schema. ``--keep N`` deletes all but the newest N after creating. ``restore`` verifies
the checksums and is refused while a run holds the books.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from qts.cli import options, paths
from qts.cli.progress import ProgressReporter
from qts.core.errors import InputError
from qts.ops.backup import (
    backup_postgres,
    backup_size,
    backup_sqlite,
    default_dir,
    find,
    list_backups,
    prune,
    restore_postgres,
    restore_sqlite,
)

app = typer.Typer(help="Backups of a run's books.", no_args_is_help=True)
DbOpt = Annotated[Path | None, typer.Option(help="The run's SQLite database.")]
DsnOpt = Annotated[
    str | None, typer.Option(help="PostgreSQL DSN (default QTS_PG_DSN with --postgres).")
]
DirOpt = Annotated[Path | None, typer.Option("--dir", help="Backup folder.")]
SchemaOpt = Annotated[str, typer.Option(help="PostgreSQL schema of the run.")]


def _target(
    db: Path | None, dsn: str | None, folder: Path | None, *, db_must_exist: bool = True
) -> tuple[str, Path]:
    if db is not None and dsn is not None:
        raise InputError("qts backup", None, "give --db or --dsn, not both")
    if folder is not None:
        paths.folder(folder, "--dir")
    if db is not None:
        paths.sqlite_database(db, "--db", must_exist=db_must_exist)
        where = folder or default_dir(db)
        paths.folder(where, "--dir")
        return "sqlite", where
    if dsn is not None:
        return "postgres", folder or Path("var/postgres.backups")
    raise InputError("qts backup", None, "give --db PATH or --dsn DSN")


@app.command("create")
def create(
    db: DbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = "qts",
    folder: DirOpt = None,
    keep: Annotated[int | None, typer.Option(min=1, help="Keep only the newest N.")] = None,
) -> None:
    """Back up the books now."""
    options.schema(schema)
    kind, where = _target(db, dsn, folder)
    if kind == "sqlite":
        assert db is not None
        total = backup_size(db) if db.exists() else None
        with ProgressReporter(f"backup of {db.name}", total=total, scale="bytes") as bar:
            b = backup_sqlite(db, where, progress=bar.advance)
            bar.update(bar.done, bar.done)  # the estimate met the actual sizes
    else:
        assert dsn is not None
        b = backup_postgres(dsn, schema, where)
    typer.echo(f"backup {b.path}")
    if keep is not None:
        for gone in prune(where, keep):
            typer.echo(f"deleted {gone.name} (keeping the newest {keep})")


@app.command("list")
def list_(db: DbOpt = None, dsn: DsnOpt = None, folder: DirOpt = None) -> None:
    """The backups, oldest first."""
    if db is None and dsn is None and folder is not None:
        paths.folder(folder, "--dir")
    _, where = _target(db, dsn, folder) if (db or dsn) else ("", folder or Path("."))
    backups = list_backups(where)
    if not backups:
        typer.echo(f"no backups in {where}")
    for b in backups:
        typer.echo(b.describe())


@app.command("restore")
def restore(
    name: Annotated[str | None, typer.Argument(help="Backup name (default: the newest).")] = None,
    db: DbOpt = None,
    dsn: DsnOpt = None,
    folder: DirOpt = None,
) -> None:
    """Put a backup back in place of the books (stop the run first)."""
    kind, where = _target(
        db,
        dsn or (os.environ.get("QTS_PG_DSN") if db is None else None),
        folder,
        db_must_exist=False,  # restoring may recreate books that were lost
    )
    b = find(where, name)
    if kind == "sqlite":
        assert db is not None
        restore_sqlite(b, db)
        typer.echo(f"restored {b.path.name} to {db}")
    else:
        restore_postgres(b, dsn or os.environ["QTS_PG_DSN"])
        typer.echo(f"restored {b.path.name} ({b.manifest.get('source')})")
