"""Catching a lagging target up from the outbox: inline (:func:`replay_pending`) or from a
thread of its own (:class:`RetryWorker`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from qts.core.errors import StorageError
from qts.data.hybrid.alerts import AlertSink, TargetHealth, log_alert
from qts.data.hybrid.outbox import MARKER_KEY, Outbox, apply_op, decode_op, marker
from qts.data.ports import TradingStore

log = logging.getLogger(__name__)


def replay_pending(outbox: Outbox, name: str, store: TradingStore, *, max_ops: int = 200) -> int:
    """Apply every op ``name`` is missing, in order; the caller holds ``outbox.lock(name)``.

    Ops go in groups of whole batches, each group in one target transaction that also moves the
    target's marker. If a group of several batches fails, the batches are tried one by one, so
    a refused batch stops the replay just before itself. Returns how many ops were applied;
    raises StorageError (after marking the target unverified) at the first failure.
    """
    applied = 0
    try:
        if not outbox.verified(name):
            outbox.verify(store.load_state(MARKER_KEY), name)
        single = False
        while True:
            entries = outbox.pending(name, limit=1 if single else max_ops)
            if not entries:
                return applied
            try:
                calls = [decode_op(e.payload) for e in entries]
                with store.transaction():
                    for method, args in calls:
                        apply_op(store, method, args)
                    store.save_state(MARKER_KEY, marker(outbox.id, entries[-1].seq))
            except StorageError as exc:
                if not single and entries[0].batch != entries[-1].batch:
                    # The group may have committed after all (a lost acknowledgement): ask
                    # the marker before retrying any of it.
                    outbox.verify(store.load_state(MARKER_KEY), name)
                    single = True
                    continue
                method = decode_op(entries[0].payload)[0] if single else "replay"
                raise StorageError(
                    f"{name} failed to apply outbox ops {entries[0].seq}..{entries[-1].seq} "
                    f"({method}): {exc}"
                ) from exc
            outbox.advance(name, entries[-1].seq)
            applied += len(entries)
            single = False
    except StorageError:
        outbox.unverify(name)
        raise
    except Exception as exc:  # a driver error an adapter failed to wrap: still a failure
        outbox.unverify(name)
        raise StorageError(f"{name} failed to apply outbox ops: {exc!r}") from exc


class RetryWorker:
    """Replays what targets lag behind from a thread of its own, with exponential backoff.

    Stores belong to the thread that opened them, so the worker opens its own store per target
    with ``openers`` (a second connection to the same database; an in-memory store cannot be
    shared this way). It shares the outbox with the hybrid store; the outbox's per-target lock
    keeps their replays from interleaving, and the replay marker makes either one's replay of
    the other's half-finished work harmless. Stop it before closing the hybrid store.
    """

    def __init__(
        self,
        outbox: Outbox,
        openers: Mapping[str, Callable[[], TradingStore]],
        *,
        on_alert: AlertSink | None = None,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        poll: float = 0.5,
        replay_batch: int = 200,
    ) -> None:
        self._outbox = outbox
        self._openers = dict(openers)
        sink = on_alert or log_alert
        self._health = {n: TargetHealth(n, sink, base_delay, max_delay) for n in self._openers}
        self._poll = poll
        self._replay_batch = replay_batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replayed = 0

    def start(self) -> RetryWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qts-outbox-retry", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Retry now, ignoring the backoff once (e.g. after an operator fixed the database)."""
        for health in self._health.values():
            health.retry_at = 0.0
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RetryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        stores: dict[str, TradingStore] = {}
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                delay = self._poll
                for name, opener in self._openers.items():
                    health = self._health[name]
                    try:
                        if self._outbox.caught_up(name) or self._outbox.detached(name):
                            continue
                    except StorageError:
                        return  # the outbox was closed: nothing left to do
                    if health.waiting(now):
                        delay = min(delay, health.retry_at - now)
                        continue
                    self._replay(name, opener, stores, health)
                self._wake.wait(max(delay, 0.01))
                self._wake.clear()
        finally:
            for store in stores.values():
                close_quietly(store)

    def _replay(
        self,
        name: str,
        opener: Callable[[], TradingStore],
        stores: dict[str, TradingStore],
        health: TargetHealth,
    ) -> None:
        with self._outbox.lock(name):
            try:
                store = stores.get(name)
                if store is None:
                    store = stores[name] = opener()
                self.replayed += replay_pending(
                    self._outbox, name, store, max_ops=self._replay_batch
                )
            except Exception as exc:
                self._outbox.unverify(name)
                broken = stores.pop(name, None)
                if broken is not None:
                    close_quietly(broken)  # reconnect next time
                health.failed(time.monotonic(), exc, self._pending(name))
                return
        health.ok()

    def _pending(self, name: str) -> int:
        try:
            return self._outbox.pending_count(name)
        except StorageError:
            return -1


def close_quietly(store: TradingStore) -> None:
    try:
        store.close()
    except Exception:  # closing a broken connection may fail too; it is being dropped anyway
        log.debug("hybrid: closing a broken store failed", exc_info=True)
