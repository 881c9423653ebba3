"""One writer per set of books: an exclusive lock file next to the database.

Two processes writing the same books (and the same simulated venue journal) interleave their
orders and fills and leave a database no run can resume. The first writer takes an exclusive
``flock`` on ``<db>.lock`` for as long as it runs and writes who it is into the file (pid, host,
start time, command); a second writer is refused at start with that holder named. Readers
(``qts ledger``, ``qts safety``, a dashboard) do not take the lock: SQLite's WAL lets them read
while the writer writes.

The kernel releases a ``flock`` when its process dies, however it dies (``kill -9`` included), so
a lock left by a killed process can never block the next run: the next writer gets the lock,
finds the dead holder's record still in the file, reports that it takes the books over, and
overwrites the record. No pid-liveness guess decides anything, so a recycled pid cannot fool it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qts.core.errors import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) the books."""

    pid: int
    host: str
    since: str
    command: str

    @staticmethod
    def me() -> Holder:
        return Holder(
            pid=os.getpid(),
            host=socket.gethostname(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "",
        )

    @staticmethod
    def parse(text: str) -> Holder | None:
        try:
            raw = json.loads(text)
            return Holder(int(raw["pid"]), str(raw["host"]), str(raw["since"]), str(raw["command"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        what = f"pid {self.pid} on host {self.host} since {self.since}"
        return f"{what} ({self.command})" if self.command else what


class BooksLocked(StorageError):
    """Another process is writing these books."""

    def __init__(self, db: str, holder: Holder | None) -> None:
        self.db = db
        self.holder = holder
        who = holder.describe() if holder else "a process that has not yet recorded itself"
        super().__init__(
            f"{db}: the books are in use by another writer: {who}. Only one process may "
            "write a database; stop that run first (or use another --db). Readers such as "
            "`qts ledger` and `qts safety status` may open it meanwhile."
        )


class WriterLock:
    """The exclusive writer lock of the database at ``db`` (file ``<db>.lock``)."""

    def __init__(self, db: str | Path) -> None:
        self.db = str(db)
        self.path = Path(f"{db}.lock")
        self._fd: int | None = None
        self.taken_over: Holder | None = None  # the dead holder whose record we replaced

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock or raise :class:`BooksLocked` naming the holder."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"{self.db}: cannot create {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(_read(fd))
            os.close(fd)
            raise BooksLocked(self.db, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"{self.db}: cannot lock {self.path}: {exc}") from exc
        try:
            previous = _read(fd)
            if previous.strip():
                # the kernel released a holder that never released itself: it died
                self.taken_over = Holder.parse(previous)
                who = self.taken_over.describe() if self.taken_over else "an unreadable record"
                log.warning("%s: taking over the writer lock left by %s", self.db, who)
            _write(fd, json.dumps(_as_dict(Holder.me())))
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"{self.db}: cannot write {self.path}: {exc}") from exc
        self._fd = fd
        return self

    def release(self) -> None:
        """Clear the record and unlock; a clean stop leaves an empty lock file."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def current_holder(db: str | Path) -> Holder | None:
    """The live holder of ``db``'s lock, or None if no process holds it (for status displays)."""
    path = Path(f"{db}.lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.parse(_read(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _as_dict(h: Holder) -> dict[str, object]:
    return {"pid": h.pid, "host": h.host, "since": h.since, "command": h.command}


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _write(fd: int, text: str) -> None:
    data = text.encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
