"""The shadow book in shared memory, for running the micro loop in its own process (CD-004).

:class:`SharedShadowBook` is a :class:`ShadowBook` whose columns live in a
``multiprocessing.shared_memory`` block of fixed capacity, guarded by a process-shared lock; the
fill and market-data threads of the main process write it exactly as they write the in-process
book. :class:`ShadowReader` is the loop process's side: it only takes snapshots. The reader holds
the lock for a few memcpy's per cycle; if the loop process dies while holding it, the owner's
supervisor frees it (:meth:`SharedShadowBook.force_unlock`).
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from multiprocessing.shared_memory import SharedMemory
from multiprocessing.synchronize import Lock as MpLock

import numpy as np

from qts.core.clock import Clock
from qts.risk.shadow import (
    H_LAST_SYNC,
    H_SLOTS,
    H_SNAPSHOTS,
    SYMBOL_BYTES,
    TRACK_CODES,
    ShadowBook,
    ShadowSnapshot,
    ShadowStore,
    build_snapshot,
)


def _buffer(shm: SharedMemory) -> memoryview:
    buf = shm.buf
    if buf is None:
        raise RuntimeError(f"shared memory {shm.name} is closed")
    return buf


_TRACK_OF_CODE: dict[int, object] = {code: track for track, code in TRACK_CODES.items()}
UNKNOWN_TRACK = "UNKNOWN"
"""What the reader shows for a track the codes cannot carry; the time rule refuses it (FS100)."""


@dataclass(frozen=True)
class ShadowHandle:
    """Everything a child process needs to attach (passed as a Process argument)."""

    name: str
    capacity: int
    lock: MpLock


class SharedShadowBook(ShadowBook):
    """A ShadowBook in shared memory. ``capacity`` is fixed: more open positions raise."""

    def __init__(
        self,
        clock: Clock,
        *,
        capacity: int = 16_384,
        reset_low_on_add: bool = True,
        ctx: SpawnContext | None = None,
    ) -> None:
        self._ctx = ctx or mp.get_context("spawn")
        self._shm = SharedMemory(create=True, size=ShadowStore.nbytes(capacity))
        super().__init__(clock, reset_low_on_add=reset_low_on_add, capacity=capacity)
        self._mplock = self._ctx.Lock()
        self._lock = self._mplock

    def _make_store(self, capacity: int) -> ShadowStore:
        return ShadowStore(_buffer(self._shm), capacity)

    def _grow(self) -> None:
        raise RuntimeError(f"shared shadow book full: capacity {self._s.capacity} positions")

    def handle(self) -> ShadowHandle:
        return ShadowHandle(self._shm.name, self._s.capacity, self._mplock)

    def force_unlock(self, timeout: float = 0.2) -> bool:
        """After the reader process died: free the lock if it died holding it. True if freed.

        Writers hold the lock for microseconds, so a lock still taken after ``timeout`` can only
        be the dead reader's.
        """
        if self._mplock.acquire(timeout=timeout):
            self._mplock.release()
            return False
        self._mplock.release()
        return True

    def close(self) -> None:
        """Detach and destroy the block (the owner only, after the loop process has stopped)."""
        self._s.release()
        self._shm.close()
        self._shm.unlink()


class ShadowReader:
    """The loop process's view of a SharedShadowBook: snapshots only."""

    def __init__(self, handle: ShadowHandle) -> None:
        # A spawned child shares its parent's resource tracker, so attaching registers nothing
        # new: the owner's close() remains the one unlink.
        self._shm = SharedMemory(name=handle.name)
        self._s = ShadowStore(_buffer(self._shm), handle.capacity)
        self._lock = handle.lock
        cap = handle.capacity
        self._symbols: list[str | None] = [None] * cap
        self._tracks: list[object] = [None] * cap
        self._seen_epoch = np.zeros(cap, np.int64)
        self._seen_track = np.full(cap, -2, np.int64)

    def snapshot(self) -> ShadowSnapshot:
        s = self._s
        with self._lock:
            cols = s.copy_columns()
            epoch, track, used = cols[8], cols[9], cols[11]
            n = len(used)
            renamed = np.flatnonzero((used != 0) & (epoch != self._seen_epoch[:n])).tolist()
            for slot in renamed:  # new positions only: usually none per cycle
                at = slot * SYMBOL_BYTES
                raw = bytes(s.symbols[at : at + SYMBOL_BYTES])
                self._symbols[slot] = raw.rstrip(b"\0").decode()
            last_sync = s.hdr[H_LAST_SYNC]
            s.hdr[H_SNAPSHOTS] += 1
        self._seen_epoch[renamed] = epoch[renamed]
        for slot in np.flatnonzero(track != self._seen_track[:n]).tolist():
            self._tracks[slot] = _TRACK_OF_CODE.get(int(track[slot]), UNKNOWN_TRACK)
        self._seen_track[:n] = track
        return build_snapshot(cols, self._symbols[:n], self._tracks[:n], last_sync)

    @property
    def slots(self) -> int:
        return self._s.hdr[H_SLOTS]

    def close(self) -> None:
        self._s.release()
        self._shm.close()
