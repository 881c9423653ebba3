"""What every store on a PostgreSQL schema shares: opening (or borrowing) the database,
the closed flag, and closing."""

from __future__ import annotations

from datetime import tzinfo

from qts.core.errors import StorageError
from qts.core.time import KST
from qts.data.postgres.database import DEFAULT_SCHEMA, PostgresDatabase
from qts.data.postgres.migration_files import Mode


class SchemaClient:
    """``db`` is a :class:`PostgresDatabase` to share (left open on close) or a DSN (``None``:
    ``$QTS_PG_DSN``) for a database of the client's own, migrated to the latest version on open
    unless ``migrate=False``. A schema at another version is refused."""

    def __init__(
        self,
        db: PostgresDatabase | str | None = None,
        *,
        schema: str = DEFAULT_SCHEMA,
        migrate: bool = True,
        mode: str = "auto",
        durable: bool = True,
        tz: tzinfo = KST,
        min_size: int = 5,
        max_size: int = 20,
    ) -> None:
        self._tz = tz
        self._closed = False
        if isinstance(db, PostgresDatabase):
            self.db = db
            self._owns_db = False
        else:
            self.db = PostgresDatabase(
                db,
                schema=schema,
                migrate=migrate,
                mode=mode,
                durable=durable,
                min_size=min_size,
                max_size=max_size,
            )
            self._owns_db = True
        try:
            self.mode: Mode = self.db.require_current()
        except BaseException:
            if self._owns_db:
                self.db.close()
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"postgres {self.db.where}: store is closed")

    def close(self) -> None:
        """Roll back this thread's open transaction and release the database (closing its
        pool if the client opened it). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_db:
            self.db.close()
        else:
            self.db.abort_thread_transaction()
