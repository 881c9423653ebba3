"""The embedded SQLite trading store: :class:`SqliteStore` (:mod:`.store`), its schema
(:mod:`.schema`) and how its records are rows (:mod:`.rows`).

Callers import from here; ``qts.data`` imports this package only when ``SqliteStore`` is first
used, so a backtest kept in memory never loads ``sqlite3``.
"""

from qts.data.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from qts.data.sqlite.store import NotBooksError, SqliteStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "NotBooksError", "SqliteStore"]
