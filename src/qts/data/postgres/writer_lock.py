"""One writer per set of books in PostgreSQL: a session-level advisory lock on the schema.

The PostgreSQL twin of :mod:`qts.data.writer_lock` (ADR 0016). The writer opens a connection of
its own, outside the pool, and takes ``pg_try_advisory_lock`` on a key derived from the schema
(advisory locks are per database already). The lock belongs to that server session: it is held
for as long as the session lives and released by the server when the session ends, however the
process ends (``kill -9`` closes its socket; a host that vanishes is dropped by TCP keepalive,
which the lock's session sets short). A second writer's ``pg_try_advisory_lock`` answers false
and it is refused at once, naming the holder from the ``books_writer`` row the holder wrote
(pid, host, since, command).

The row also records the holder's server session (``backend_pid``). The row counts as the
holder's only while that session holds the lock in ``pg_locks``; a row whose session is gone was
left by a process that died, and the next writer says that it takes the books over and replaces
the row. No client pid is ever probed, so a recycled pid or another host cannot fool it.

The lock is only as good as its session: if the lock's connection breaks (the server restarted,
an operator terminated the session), another process may take the books. So the writer checks
its session before every commit (:meth:`PostgresWriterLock.verify`, one round trip) and, once the
session is lost, refuses every later commit: the run stops as after a crash and the next start
recovers. Readers (``qts ledger``-style tools, the dashboard, reports) take no lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime

import psycopg

from qts.core.errors import StorageError
from qts.data.postgres.database import Connection, PostgresDatabase, hash_key, reason
from qts.data.writer_lock import BooksLocked, Holder

log = logging.getLogger(__name__)

# The lock's session tells the server to probe an idle client after 10 s, every 5 s, 3 times:
# a writer whose host vanished (no FIN, no RST) frees the books within about 25 s.
_KEEPALIVE = (
    ("tcp_keepalives_idle", 10),
    ("tcp_keepalives_interval", 5),
    ("tcp_keepalives_count", 3),
)

# The row of the session that holds the lock now, if any (an int8 advisory key appears in
# pg_locks as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1).
_LIVE_HOLDER = (
    "SELECT w.pid, w.host, w.since, w.command FROM books_writer w WHERE EXISTS ("
    " SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1"
    " AND l.pid = w.backend_pid)"
)
_ANY_HOLDER = "SELECT pid, host, since, command FROM books_writer"


def books_key(schema: str) -> int:
    """The advisory lock key of the books in ``schema`` (of the database connected to)."""
    return hash_key(f"qts.books.{schema}")


def _halves(key: int) -> tuple[int, int]:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def _holder(row: tuple[object, ...] | None) -> Holder | None:
    if row is None:
        return None
    pid, host, since, command = row
    stamp = (
        since.astimezone(UTC).isoformat(timespec="seconds")
        if isinstance(since, datetime)
        else str(since)
    )
    return Holder(int(str(pid)), str(host), stamp, str(command))


def live_holder(conn: Connection, schema: str) -> Holder | None:
    """Who holds the books of ``schema`` now (``conn``'s search path on that schema)."""
    row = conn.execute(_LIVE_HOLDER, _halves(books_key(schema))).fetchone()
    return _holder(row)


def database_holder(db: PostgresDatabase) -> Holder | None:
    """Who holds the books of ``db``'s schema now (for status displays; takes no lock)."""
    with db.connection() as conn, db.guard("writer"):
        return live_holder(conn, db.schema)


class PostgresWriterLock:
    """The writer lock of the books in ``db``'s schema, held on a connection of its own."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.key = books_key(db.schema)
        self._conn: Connection | None = None
        self._mutex = threading.Lock()  # the lock's connection is used by whichever thread commits
        self._lost: StorageError | None = None
        self.taken_over: Holder | None = None  # the dead holder whose row we replaced
        self.backend_pid: int | None = None

    @property
    def where(self) -> str:
        return f"postgres {self.db.where}"

    @property
    def held(self) -> bool:
        return self._conn is not None and self._lost is None

    def acquire(self) -> PostgresWriterLock:
        """Take the lock or raise :class:`BooksLocked` naming the holder."""
        if self._conn is not None:
            return self
        conn = self.db.connect()
        try:
            with self.db.guard("writer lock"):
                for name, value in _KEEPALIVE:
                    # ignored (and harmless) on a Unix-socket connection
                    conn.execute(f"SET {name} = {int(value)}")
                conn.execute("SET application_name = 'qts writer'")
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if not (got and got[0]):
                    holder = live_holder(conn, self.db.schema)
                    raise BooksLocked(self.where, holder)
                previous = _holder(conn.execute(_ANY_HOLDER).fetchone())
                if previous is not None:
                    # the server ended a holder's session that never cleared its row: it died
                    self.taken_over = previous
                    log.warning(
                        "%s: taking over the writer lock left by %s",
                        self.where,
                        previous.describe(),
                    )
                me = Holder.me()
                row = conn.execute(
                    "INSERT INTO books_writer (id, pid, host, since, command, backend_pid) "
                    "VALUES (1, %s, %s, %s, %s, pg_backend_pid()) ON CONFLICT (id) DO UPDATE SET "
                    "pid = EXCLUDED.pid, host = EXCLUDED.host, since = EXCLUDED.since, "
                    "command = EXCLUDED.command, backend_pid = EXCLUDED.backend_pid "
                    "RETURNING backend_pid",
                    (me.pid, me.host, datetime.fromisoformat(me.since), me.command),
                ).fetchone()
                self.backend_pid = int(row[0]) if row else None
        except BaseException:
            conn.close()  # ends the session: a lock taken above is released with it
            raise
        self._conn = conn
        return self

    def verify(self) -> None:
        """Raise StorageError if the lock's session is gone (and from then on, always)."""
        with self._mutex:
            if self._lost is not None:
                raise self._lost
            conn = self._conn
            if conn is None:
                return
            try:
                conn.execute("SELECT 1")
            except psycopg.Error as exc:
                self._lost = StorageError(
                    f"{self.where}: lost the writer lock (its server session ended: "
                    f"{reason(exc)}); refusing to write, another process may hold the books now"
                )
                log.error("%s", self._lost)
                raise self._lost from exc

    def release(self) -> None:
        """Clear the row and unlock; a clean stop leaves no holder."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._lost is None and not (conn.closed or conn.broken):
            with contextlib.suppress(psycopg.Error):
                conn.execute("DELETE FROM books_writer WHERE backend_pid = pg_backend_pid()")
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        conn.close()

    def __enter__(self) -> PostgresWriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
