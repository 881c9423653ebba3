"""Backups of a run's books: SQLite online backups (the sqlite3 backup API, safe while the run
writes), ``pg_dump`` for PostgreSQL, a retention of the newest N, and a verified restore.

A backup is a directory ``<dir>/<name>-<UTC timestamp>/`` holding the database copy (``books``:
``books.sqlite`` or ``books.dump``), the simulated venue's journal when the run has one
(``venue.sqlite``, the ``<db>.venue`` file: the venue's orders belong to the same books), and
``manifest.json`` (what, when, from where, SHA-256 and size of every file, ledger row count).

Restore verifies every checksum first, holds the books' writer lock (so it is refused while a run
writes them), writes each file next to its target and renames it into place, and removes the
target's stale ``-wal``/``-shm`` files: the restored file is exactly the backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qts.core.errors import InputError, StorageError
from qts.data.writer_lock import WriterLock

MANIFEST = "manifest.json"
STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    manifest: dict[str, Any]

    @property
    def created_at(self) -> str:
        return str(self.manifest["created_at"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    def describe(self) -> str:
        size = sum(int(f["size"]) for f in self.manifest["files"].values())
        rows = self.manifest.get("ledger_rows")
        return f"{self.path.name}  {self.kind:<8} {self.created_at}  {size:>12,} bytes" + (
            f"  {rows} ledger rows" if rows is not None else ""
        )


def default_dir(db: Path) -> Path:
    return Path(f"{db}.backups")


Progress = Callable[[int], None]
"""Told each time more bytes were copied or checksummed (the increment)."""


def _sha256(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest()


def _sqlite_copy(source: Path, dest: Path) -> None:
    """Online copy through the backup API: consistent even while another process writes."""
    if not source.exists():
        raise InputError(str(source), None, "no such database")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backup of {source} failed: {exc}") from exc
    finally:
        src.close()


def _ledger_rows(sqlite_file: Path) -> int | None:
    try:
        with sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM t_ledger").fetchone()[0])
    except sqlite3.Error:
        return None


def _finish(
    tmp: Path, final: Path, manifest: dict[str, Any], progress: Progress | None = None
) -> Backup:
    manifest["files"] = {
        p.name: {"sha256": _sha256(p, progress), "size": p.stat().st_size}
        for p in sorted(tmp.iterdir())
        if p.name != MANIFEST
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, final)
    return Backup(final, manifest)


def _new_dir(dest_dir: Path, name: str, now: datetime) -> tuple[Path, Path]:
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / f"{name}-{now.astimezone(UTC).strftime(STAMP)}"
    tmp = dest_dir / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp, final


def backup_size(db: Path) -> int:
    """Bytes a backup of ``db`` copies and then checksums, about (for a progress total)."""
    files = [db, Path(f"{db}-wal"), Path(f"{db}.venue"), Path(f"{db}.venue-wal")]
    return 2 * sum(f.stat().st_size for f in files if f.is_file())


def _companions(db: Path) -> list[tuple[str, Path]]:
    """The SQLite files that belong with the books, by their name in a backup: the simulated
    venue's journal, and a live adapter's map of client ids to the broker's order numbers
    (books restored without it could not match the broker's orders to their own)."""
    return [("venue.sqlite", Path(f"{db}.venue")), ("orders.sqlite", Path(f"{db}.orders"))]


def backup_sqlite(
    db: Path, dest_dir: Path, now: datetime | None = None, progress: Progress | None = None
) -> Backup:
    """``progress`` hears the bytes of each file once copied (one step: a stepped copy restarts
    whenever the run writes, and might never finish) and again as they are checksummed."""
    now = now or datetime.now(UTC)
    tmp, final = _new_dir(dest_dir, db.stem, now)
    try:
        for name, source in [("books.sqlite", db), *_companions(db)]:
            if source is db or source.exists():
                _sqlite_copy(source, tmp / name)
                if progress is not None:
                    progress((tmp / name).stat().st_size)
        manifest = {
            "kind": "sqlite",
            "source": str(db.resolve()),
            "created_at": now.astimezone(UTC).isoformat(),
            "ledger_rows": _ledger_rows(tmp / "books.sqlite"),
        }
        return _finish(tmp, final, manifest, progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def backup_postgres(
    dsn: str, schema: str, dest_dir: Path, now: datetime | None = None, pg_dump: str = "pg_dump"
) -> Backup:
    """``pg_dump --format=custom`` of the run's schema (the password comes from ~/.pgpass or
    PGPASSWORD, never from the command line)."""
    now = now or datetime.now(UTC)
    tmp, final = _new_dir(dest_dir, f"pg-{schema}", now)
    try:
        out = tmp / "books.dump"
        proc = subprocess.run(  # noqa: S603 - an argument list, no shell
            [pg_dump, "--format=custom", f"--schema={schema}", f"--file={out}", "--dbname", dsn],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StorageError(f"pg_dump of schema {schema} failed: {_first_line(proc.stderr)}")
        manifest = {
            "kind": "postgres",
            "source": f"schema {schema}",
            "schema": schema,
            "created_at": now.astimezone(UTC).isoformat(),
        }
        return _finish(tmp, final, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0][:300]


def list_backups(dest_dir: Path) -> list[Backup]:
    """Complete backups, oldest first (partial ones are not listed)."""
    if not dest_dir.is_dir():
        return []
    out = []
    for d in sorted(dest_dir.iterdir()):
        m = d / MANIFEST
        if d.is_dir() and not d.name.startswith(".") and m.exists():
            try:
                out.append(Backup(d, json.loads(m.read_text())))
            except ValueError:
                continue
    return sorted(out, key=lambda b: b.created_at)


def prune(dest_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    backups = list_backups(dest_dir)
    doomed = backups[: max(0, len(backups) - keep)]
    for b in doomed:
        shutil.rmtree(b.path)
    return [b.path for b in doomed]


def find(dest_dir: Path, name: str | None) -> Backup:
    backups = list_backups(dest_dir)
    if not backups:
        raise InputError(str(dest_dir), None, "no backups")
    if name is None:
        return backups[-1]
    for b in backups:
        if b.path.name == name or str(b.path) == name:
            return b
    raise InputError(str(dest_dir), name, "no such backup")


def verify(backup: Backup) -> None:
    for name, info in backup.manifest["files"].items():
        path = backup.path / name
        if not path.exists():
            raise StorageError(f"backup {backup.path.name}: {name} is missing")
        if _sha256(path) != info["sha256"]:
            raise StorageError(f"backup {backup.path.name}: {name} does not match its checksum")


def restore_sqlite(backup: Backup, db: Path) -> None:
    """Put the backup's books (and the files that belong with them) back at ``db``; refused while
    a run writes. A companion the backup does not hold is left as it is."""
    if backup.kind != "sqlite":
        raise InputError(str(backup.path), "kind", f"a {backup.kind} backup, not SQLite")
    verify(backup)
    db.parent.mkdir(parents=True, exist_ok=True)
    with WriterLock(db):
        files = backup.manifest["files"]
        targets = [("books.sqlite", db), *((n, p) for n, p in _companions(db) if n in files)]
        for name, target in targets:
            tmp = target.with_name(f".{target.name}.restoring")
            shutil.copyfile(backup.path / name, tmp)
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(tmp, target)


def restore_postgres(backup: Backup, dsn: str, pg_restore: str = "pg_restore") -> None:
    """Replace the run's schema by the dump (stop the run first). The current schema is renamed
    aside first and dropped only once the restore succeeded; a failed restore renames it back."""
    if backup.kind != "postgres":
        raise InputError(str(backup.path), "kind", f"a {backup.kind} backup, not PostgreSQL")
    verify(backup)
    import psycopg
    from psycopg import sql

    schema = str(backup.manifest["schema"])
    aside = f"{schema}_before_restore"[:63]
    ident, aside_ident = sql.Identifier(schema), sql.Identifier(aside)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(aside_ident))
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if exists:
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(ident, aside_ident))
        proc = subprocess.run(  # noqa: S603 - an argument list, no shell
            [
                pg_restore,
                "--single-transaction",
                "--no-owner",
                "--dbname",
                dsn,
                str(backup.path / "books.dump"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            if exists:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(aside_ident, ident))
            raise StorageError(f"pg_restore failed: {_first_line(proc.stderr)}")
        if exists:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(aside_ident))
