"""The embedded SQLite trading store: :class:`SqliteStore` (:mod:`.store`), its schema
(:mod:`.schema`), how its records are rows (:mod:`.rows`) and what counts as books
(:mod:`.books_file`).

Callers import from here; ``qts.data`` imports this package only when ``SqliteStore`` is first
used, so a backtest kept in memory never loads ``sqlite3``.
"""

from qts.data.sqlite.books_file import NotBooksError
from qts.data.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from qts.data.sqlite.store import SqliteStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "NotBooksError", "SqliteStore"]
