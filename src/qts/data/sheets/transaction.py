"""The Sheets trading store's transaction: the mirror's transaction, one request at the end.

A file of its own, as for the SQLite and hybrid stores: its rules (nesting by depth, the
outermost block flushing what it touched in one request, a failed request undoing the mirror)
read best alone. It is the store's own helper: it works on SheetsStore's mirror, depth and
dirty set, which are private to :mod:`qts.data.sheets`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qts.data.sheets.store import SheetsStore


class Transaction:
    """The block :meth:`SheetsStore.transaction` returns: the mirror's transaction, and one
    request for the whole outermost block when it ends."""

    __slots__ = ("_inner", "_store")

    def __init__(self, store: SheetsStore) -> None:
        self._store = store
        self._inner: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        store = self._store
        store._check_open()
        inner = store._mem.transaction()
        with store._as_storage_error("transaction"):
            inner.__enter__()
        self._inner = inner
        store._depth += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        store = self._store
        inner = self._inner
        assert inner is not None
        if store._closed:  # close() inside the block already undid everything
            inner.__exit__(exc_type, exc, tb)
            return
        store._depth -= 1
        if exc_type is not None or store._depth > 0:
            inner.__exit__(exc_type, exc, tb)
            if store._depth == 0:
                store._dirty.clear()
            return
        dirty, store._dirty = store._dirty, set()
        try:
            with store._as_storage_error("commit"):
                store._flush(dirty)
        except BaseException as failure:
            inner.__exit__(type(failure), failure, failure.__traceback__)
            raise
        inner.__exit__(None, None, None)
