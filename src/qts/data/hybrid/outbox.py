"""The durable outbox: every write meant for the hybrid store's targets, until each has it.

Why: in hybrid mode a write goes to two stores (Google Sheets and PostgreSQL) that fail
independently. The outbox is a third, local store that takes each write first (SQLite, WAL,
``synchronous=FULL``), so an outage of either target loses nothing: what a target missed stays
pending here and is replayed, in order, when it answers again.

Model:

- ``ops``: one row per write call (``seq``, never reused), holding its serialised call
  (:mod:`qts.data.hybrid.codec`), the set of targets it is meant for (a bit mask) and its
  ``batch``: the seq of the first op of the caller's transaction, so a transaction is replayed
  as one transaction on every target.
- ``targets``: per target, a ``cursor`` (every op meant for it up to this seq is applied) and a
  ``detached`` flag, set when an op was appended without it (e.g. ``SHEETS_ONLY`` stopped
  writing the database): such a target has missed writes and may not be written again until it
  is re-synced (:func:`qts.data.hybrid.migrate.migrate`) and :meth:`Outbox.reattach` ed.
- ``state_keys``: every ``save_state`` key ever written, because the port cannot list them and
  the checker and migration must compare them.
- ``cutover_days``: the consistency checker's daily results (the 14-day cutover rule).

Exactly once, whatever fails: a target applies pending ops inside one of its own transactions
that also stores a marker ``{"outbox": <this outbox's id>, "seq": <last seq applied>}`` under the
reserved state key :data:`MARKER_KEY`. When a commit's outcome is unknown (the connection died
during COMMIT, or the process died before moving the cursor), the marker says what the target
really has, so a replay never applies an op twice: not even the append-only ones (decisions,
safety events) that would otherwise double. Each op is idempotent on its own as a second line
of defence except those append-only ones: ``record_fill`` ignores a fill id already booked,
``save_order`` / ``save_positions`` / ``save_account`` / ``save_state`` overwrite,
``record_equity`` replaces by timestamp, ``init_run`` keeps the first run.

Cursors move in memory first and reach the file with the next append (or :meth:`Outbox.sync`):
losing a cursor move costs a marker read, never a double write. Fully applied ops are pruned.

Threads: one instance is shared by the hybrid store and its retry worker; every method is
thread-safe, and :meth:`Outbox.lock` gives the per-target lock that serialises replays.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from qts.core.errors import StorageError
from qts.data.hybrid.codec import FORMAT_VERSION, apply_op, decode_op, encode_op

__all__ = [
    "MARKER_KEY",
    "CheckDay",
    "Outbox",
    "OutboxEntry",
    "apply_op",
    "decode_op",
    "encode_op",
    "marker",
    "marker_seq",
]

# The state key each target keeps its replay marker under; callers may not use it.
MARKER_KEY = "__qts_outbox__"

_PRUNE_EVERY = 256

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    """CREATE TABLE IF NOT EXISTS targets (
        name TEXT PRIMARY KEY,
        bit INTEGER NOT NULL UNIQUE,
        cursor INTEGER NOT NULL DEFAULT 0,
        detached INTEGER NOT NULL DEFAULT 0 CHECK (detached IN (0, 1))
    ) STRICT""",
    """CREATE TABLE IF NOT EXISTS ops (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        batch INTEGER NOT NULL,
        mask INTEGER NOT NULL CHECK (mask > 0),
        created_at TEXT NOT NULL,
        payload TEXT NOT NULL
    ) STRICT""",
    "CREATE TABLE IF NOT EXISTS state_keys (key TEXT PRIMARY KEY) STRICT, WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS cutover_days (
        day TEXT PRIMARY KEY,
        clean INTEGER NOT NULL CHECK (clean IN (0, 1)),
        checks INTEGER NOT NULL,
        differences INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        last_checked_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID""",
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One pending write: ``payload`` is :func:`~qts.data.hybrid.codec.encode_op` text."""

    seq: int
    batch: int
    payload: str


@dataclass(frozen=True, slots=True)
class CheckDay:
    """The consistency checks of one calendar day: clean only if every check that day was."""

    day: date
    clean: bool
    checks: int
    differences: int
    pending: int
    last_checked_at: datetime


@dataclass(slots=True)
class _Target:
    bit: int
    cursor: int
    head: int  # the last seq meant for this target (cursor == head: nothing pending)
    detached: bool
    lock: threading.Lock
    # False until someone read the target's marker since the last failure or since opening:
    # until then the cursor may be behind what the target really has.
    verified: bool = False


class Outbox:
    """Pending writes per target, in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        self._mutex = threading.RLock()
        self._changed = threading.Condition(self._mutex)
        self._targets: dict[str, _Target] = {}
        self._dirty: set[str] = set()
        self._appends = 0
        self._closed = False
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"outbox {self.path}: cannot open: {exc}") from exc
        try:
            with self._guard("open"):
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                self._conn.execute("PRAGMA busy_timeout = 5000")
                with self._txn():
                    for statement in _SCHEMA:
                        self._conn.execute(statement)
                    rows = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
                    if "format" in rows and int(rows["format"]) > FORMAT_VERSION:
                        raise StorageError(
                            f"outbox {self.path}: written by a newer QTS (format {rows['format']})"
                        )
                    if "id" not in rows:
                        rows["id"] = uuid.uuid4().hex
                        self._conn.execute(
                            "INSERT INTO meta (key, value) VALUES ('id', ?)", (rows["id"],)
                        )
                    self._conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('format', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(FORMAT_VERSION),),
                    )
                self.id: str = rows["id"]
                for name, bit, cursor, detached in self._conn.execute(
                    "SELECT name, bit, cursor, detached FROM targets"
                ).fetchall():
                    (head,) = self._conn.execute(
                        "SELECT max(seq) FROM ops WHERE mask & ?", (1 << bit,)
                    ).fetchone()
                    self._targets[name] = _Target(
                        bit, cursor, max(cursor, head or 0), bool(detached), threading.Lock()
                    )
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise StorageError(f"outbox {self.path}: {what}: {exc}") from exc

    @contextmanager
    def _txn(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"outbox {self.path}: closed")

    def _target(self, name: str) -> _Target:
        try:
            return self._targets[name]
        except KeyError:
            raise StorageError(f"outbox {self.path}: unknown target {name!r}") from None

    def _write_cursors(self) -> None:
        for name in self._dirty:
            self._conn.execute(
                "UPDATE targets SET cursor = ? WHERE name = ?", (self._targets[name].cursor, name)
            )
        self._dirty.clear()

    # ------------------------------------------------------------------ targets

    def register(self, names: Iterable[str]) -> None:
        """Make sure each target exists (new ones start with nothing pending, attached)."""
        with self._mutex, self._guard("register"):
            self._check_open()
            missing = [n for n in names if n not in self._targets]
            if not missing:
                return
            with self._txn():
                used = {t.bit for t in self._targets.values()}
                for name in missing:
                    bit = next(b for b in range(62) if b not in used)
                    used.add(bit)
                    self._conn.execute("INSERT INTO targets (name, bit) VALUES (?, ?)", (name, bit))
                    self._targets[name] = _Target(bit, 0, 0, False, threading.Lock())

    def targets(self) -> list[str]:
        with self._mutex:
            return list(self._targets)

    def lock(self, name: str) -> threading.Lock:
        """Held by whoever applies ops to ``name``, so replays of one target never interleave."""
        return self._target(name).lock

    def cursor(self, name: str) -> int:
        with self._mutex:
            return self._target(name).cursor

    def head(self, name: str) -> int:
        with self._mutex:
            return self._target(name).head

    def caught_up(self, name: str) -> bool:
        """True if ``name`` is attached and has every op meant for it."""
        with self._mutex:
            t = self._target(name)
            return not t.detached and t.cursor >= t.head

    def detached(self, name: str) -> bool:
        with self._mutex:
            return self._target(name).detached

    def verified(self, name: str) -> bool:
        """Whether ``name``'s cursor is known to match its marker (see :meth:`unverify`)."""
        with self._mutex:
            return self._target(name).verified

    def verify(self, marker: object, name: str) -> None:
        """Take ``name``'s marker (what its own store says it applied) as the truth."""
        with self._mutex:
            seq = marker_seq(marker, self.id)
            if seq:
                self.advance(name, seq)
            self._target(name).verified = True

    def unverify(self, name: str) -> None:
        """A write to ``name`` failed: whether it committed is unknown until its marker is read."""
        with self._mutex:
            self._target(name).verified = False

    def advance(self, name: str, seq: int) -> None:
        """``name`` has applied every op meant for it up to ``seq`` (never moves back)."""
        with self._changed:
            t = self._target(name)
            if seq > t.cursor:
                t.cursor = seq
                self._dirty.add(name)
                self._changed.notify_all()

    def reattach(self, name: str) -> None:
        """Declare ``name`` re-synced (after a migration): its stale pending ops are skipped.

        Only call this once the target holds everything the other one has, e.g. right after
        :func:`~qts.data.hybrid.migrate.migrate` copied the other store into it while nothing
        was writing.
        """
        with self._changed, self._guard("reattach"):
            self._check_open()
            t = self._target(name)
            (last,) = self._conn.execute("SELECT coalesce(max(seq), 0) FROM ops").fetchone()
            top = max(last, max(x.head for x in self._targets.values()))
            with self._txn():
                self._conn.execute(
                    "UPDATE targets SET cursor = ?, detached = 0 WHERE name = ?", (top, name)
                )
            t.cursor = max(t.cursor, top)
            t.head = max(t.head, t.cursor)
            t.detached = False
            self._dirty.discard(name)
            self._changed.notify_all()

    def skip(self, name: str, seq: int) -> None:
        """Operator action: declare the op ``seq`` (the next one ``name`` has not applied)
        applied without applying it, for an op that store can never take (e.g. text it cannot
        hold). The checker then shows what differs, to be fixed by hand."""
        with self._changed, self._guard("skip"):
            self._check_open()
            t = self._target(name)
            row = self._conn.execute(
                "SELECT min(seq) FROM ops WHERE seq > ? AND mask & ?", (t.cursor, 1 << t.bit)
            ).fetchone()
            if row[0] != seq:
                raise StorageError(
                    f"outbox {self.path}: {name}: op {seq} is not the next pending one ({row[0]})"
                )
            with self._txn():
                self._conn.execute("UPDATE targets SET cursor = ? WHERE name = ?", (seq, name))
            t.cursor = seq
            self._dirty.discard(name)
            self._changed.notify_all()

    # ------------------------------------------------------------------ ops

    def append(
        self,
        payloads: Sequence[str],
        targets: Collection[str],
        *,
        state_keys: Iterable[str] = (),
    ) -> tuple[int, int]:
        """Store one batch durably for ``targets``; returns its first and last seq.

        Registered targets left out are marked detached: they miss this write.
        """
        if not payloads:
            raise StorageError(f"outbox {self.path}: append of an empty batch")
        with self._changed, self._guard("append"):
            self._check_open()
            mask = 0
            for name in targets:
                mask |= 1 << self._target(name).bit
            if not mask:
                raise StorageError(f"outbox {self.path}: append for no target")
            left_out = [n for n, t in self._targets.items() if n not in targets and not t.detached]
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            with self._txn():
                seqs = [
                    int(
                        self._conn.execute(
                            "INSERT INTO ops (batch, mask, created_at, payload) "
                            "VALUES (0, ?, ?, ?)",
                            (mask, now, payload),
                        ).lastrowid
                        or 0
                    )
                    for payload in payloads
                ]
                first, last = seqs[0], seqs[-1]
                self._conn.execute(
                    "UPDATE ops SET batch = ? WHERE seq BETWEEN ? AND ?", (first, first, last)
                )
                self._conn.executemany(
                    "INSERT INTO state_keys (key) VALUES (?) ON CONFLICT DO NOTHING",
                    [(k,) for k in state_keys],
                )
                for name in left_out:
                    self._conn.execute("UPDATE targets SET detached = 1 WHERE name = ?", (name,))
                self._write_cursors()
                self._appends += 1
                if self._appends % _PRUNE_EVERY == 0:
                    self._prune()
            for name in targets:
                self._targets[name].head = last
            for name in left_out:
                self._targets[name].detached = True
            self._changed.notify_all()
            return first, last

    def pending(self, name: str, limit: int = 1000) -> list[OutboxEntry]:
        """The next ops ``name`` has not applied, oldest first (whole batches up to ``limit``)."""
        with self._mutex, self._guard("pending"):
            self._check_open()
            t = self._target(name)
            rows = self._conn.execute(
                "SELECT seq, batch, payload FROM ops WHERE seq > ? AND mask & ? "
                "ORDER BY seq LIMIT ?",
                (t.cursor, 1 << t.bit, max(limit, 1)),
            ).fetchall()
            if len(rows) == limit:
                # Do not cut the last batch in two; fetch the rest of it.
                last_batch = rows[-1][1]
                rows += self._conn.execute(
                    "SELECT seq, batch, payload FROM ops WHERE seq > ? AND batch = ? "
                    "AND mask & ? ORDER BY seq",
                    (rows[-1][0], last_batch, 1 << t.bit),
                ).fetchall()
            return [OutboxEntry(*r) for r in rows]

    def pending_count(self, name: str) -> int:
        with self._mutex, self._guard("pending_count"):
            self._check_open()
            t = self._target(name)
            if t.cursor >= t.head:
                return 0
            (n,) = self._conn.execute(
                "SELECT count(*) FROM ops WHERE seq > ? AND mask & ?", (t.cursor, 1 << t.bit)
            ).fetchone()
            return int(n)

    def wait_caught_up(self, name: str, timeout: float) -> bool:
        """Block until ``name`` has every op meant for it, or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.caught_up(name):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._changed.wait(remaining)
            return True

    def _prune(self) -> None:
        """Drop ops every attached target they were meant for has applied."""
        live = [t for t in self._targets.values() if not t.detached]
        if not live:
            return
        still_needed = " OR ".join(f"(mask & {1 << t.bit} AND seq > {t.cursor})" for t in live)
        self._conn.execute(f"DELETE FROM ops WHERE NOT ({still_needed})")

    def sync(self) -> None:
        """Write the cursors to the file and drop fully applied ops."""
        with self._mutex, self._guard("sync"):
            self._check_open()
            with self._txn():
                self._write_cursors()
                self._prune()

    def size(self) -> int:
        """Ops still stored (pending for some target, or not pruned yet)."""
        with self._mutex, self._guard("size"):
            self._check_open()
            (n,) = self._conn.execute("SELECT count(*) FROM ops").fetchone()
            return int(n)

    # ------------------------------------------------------------------ state keys

    def state_keys(self) -> list[str]:
        """Every ``save_state`` key ever written through this outbox, sorted."""
        with self._mutex, self._guard("state_keys"):
            self._check_open()
            rows = self._conn.execute("SELECT key FROM state_keys ORDER BY key").fetchall()
            return [r[0] for r in rows]

    # ------------------------------------------------------------------ cutover days

    def record_check(self, day: date, at: datetime, differences: int, pending: int) -> CheckDay:
        """Add one consistency check's result to ``day``; the day stays clean only if all were."""
        clean = differences == 0 and pending == 0
        with self._mutex, self._guard("record_check"):
            self._check_open()
            with self._txn():
                self._conn.execute(
                    "INSERT INTO cutover_days "
                    "(day, clean, checks, differences, pending, last_checked_at) "
                    "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
                    "clean = min(clean, excluded.clean), checks = checks + 1, "
                    "differences = differences + excluded.differences, "
                    "pending = max(pending, excluded.pending), "
                    "last_checked_at = excluded.last_checked_at",
                    (day.isoformat(), int(clean), differences, pending, at.isoformat()),
                )
            return self._day(day)

    def _day(self, day: date) -> CheckDay:
        row = self._conn.execute(
            "SELECT day, clean, checks, differences, pending, last_checked_at "
            "FROM cutover_days WHERE day = ?",
            (day.isoformat(),),
        ).fetchone()
        return _check_day(row)

    def check_days(self) -> list[CheckDay]:
        """Every day a check was recorded, oldest first."""
        with self._mutex, self._guard("check_days"):
            self._check_open()
            rows = self._conn.execute(
                "SELECT day, clean, checks, differences, pending, last_checked_at "
                "FROM cutover_days ORDER BY day"
            ).fetchall()
            return [_check_day(r) for r in rows]

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Write the cursors and close; safe to call twice."""
        with self._changed:
            if self._closed:
                return
            try:
                self.sync()
            finally:
                self._closed = True
                self._conn.close()
                self._changed.notify_all()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def marker(outbox_id: str, seq: int) -> dict[str, Any]:
    """The document a target stores under :data:`MARKER_KEY` after applying up to ``seq``."""
    return {"outbox": outbox_id, "seq": seq}


def marker_seq(doc: object, outbox_id: str) -> int:
    """The seq a marker says was applied from this outbox (0 if it is another outbox's)."""
    if isinstance(doc, dict) and doc.get("outbox") == outbox_id:
        seq = doc.get("seq")
        if type(seq) is int and seq > 0:
            return seq
    return 0


def _check_day(row: tuple[Any, ...]) -> CheckDay:
    day, clean, checks, differences, pending, at = row
    return CheckDay(
        date.fromisoformat(day), bool(clean), checks, differences, pending,
        datetime.fromisoformat(at),
    )  # fmt: skip
