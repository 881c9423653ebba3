"""The hybrid store's caller transaction: one commit on the host, one outbox batch.

A file of its own because its rules (the host chosen and its outbox lock held from the outermost
block to its end, nested blocks nesting on the host, the block's ops appended to the outbox as one
batch just before the host commits) read best alone. It is the store's own helper: it works on
HybridStore's targets, outbox and open transaction, which are private to
:mod:`qts.data.hybrid.store`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from qts.core.errors import StorageError
from qts.data.hybrid.outbox import MARKER_KEY, marker

if TYPE_CHECKING:
    from qts.data.hybrid.store import HybridStore


@dataclass(slots=True)
class OpenTransaction:
    """An open caller transaction: its host, the host's nested blocks and each block's ops."""

    host: str
    lock: threading.Lock
    blocks: list[Any] = field(default_factory=list)
    frames: list[list[tuple[str, str | None]]] = field(default_factory=list)


class Transaction:
    """What :meth:`HybridStore.transaction <qts.data.hybrid.store.HybridStore.transaction>`
    returns: entering it begins a block on the host, leaving it ends the block."""

    __slots__ = ("_store",)

    def __init__(self, store: HybridStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        hybrid = self._store
        hybrid._check_open()
        tx = hybrid._tx
        if tx is not None:
            block = hybrid._stores[tx.host].transaction()
            block.__enter__()
            tx.blocks.append(block)
            tx.frames.append([])
            return
        errors: list[str] = []
        for name in hybrid._choose():
            lock = hybrid._outbox.lock(name)
            if not lock.acquire(blocking=False):
                continue
            if not hybrid._outbox.caught_up(name):
                lock.release()
                continue
            try:
                block = self._enter_block(name)
            except StorageError as exc:
                lock.release()
                hybrid._failed(name, exc)
                errors.append(f"{name}: {exc}")
                continue
            except BaseException:
                lock.release()
                raise
            hybrid._tx = OpenTransaction(name, lock, [block], [[]])
            return
        raise StorageError(
            "hybrid: transaction: no store can host it (" + ("; ".join(errors) or "none") + ")"
        )

    def _enter_block(self, name: str) -> Any:
        """Open the outermost block on ``name``: StorageError if it is down; raises anything
        else (e.g. a refusal on the second try, as for writes) as it came."""
        hybrid = self._store
        for attempt in (1, 2):
            block = hybrid._stores[name].transaction()
            try:
                block.__enter__()
            except StorageError:
                if attempt == 2 or not hybrid._answers(name):
                    raise
                continue
            return block
        raise AssertionError("unreachable")  # pragma: no cover

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        hybrid = self._store
        tx = hybrid._tx
        if hybrid._closed or tx is None:  # close() inside the block already ended it
            return
        block = tx.blocks.pop()
        ops = tx.frames.pop()
        if tx.blocks:  # an inner block: the host's savepoint decides; keep its ops if it held
            block.__exit__(exc_type, exc, None)
            if exc_type is None:
                tx.frames[-1].extend(ops)
            return
        hybrid._tx = None
        host = tx.host
        current = hybrid._current()
        try:
            if exc_type is not None or not ops:
                block.__exit__(exc_type, exc, None)
                return
            store = hybrid._stores[host]
            last = 0
            try:
                keys = [k for _, k in ops if k is not None]
                _, last = hybrid._outbox.append(
                    [text for text, _ in ops], hybrid._mode.targets, state_keys=keys
                )
                store.save_state(MARKER_KEY, marker(hybrid._outbox.id, last))
            except StorageError as error:
                block.__exit__(type(error), error, None)
                if not last:
                    raise  # nothing is anywhere: the block failed as a whole
                hybrid._failed(host, error)  # durable in the outbox: the host replays it
            else:
                try:
                    block.__exit__(None, None, None)
                except StorageError as error:
                    hybrid._failed(host, error)  # durable in the outbox; the marker decides
                else:
                    hybrid._outbox.advance(host, last)
                    hybrid._health[host].ok()
        finally:
            tx.lock.release()
        hybrid._replicate(host, current)
