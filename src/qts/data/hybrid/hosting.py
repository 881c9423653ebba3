"""One target hosting one write: the write inside the host's transaction, the outbox append and
the replay marker before it commits, and a refusal told apart from an outage.

A file of its own because it is the step every write outside a caller transaction runs through,
and its rules (what reaches the outbox is durable whatever the host says next; a failure of a
store that still answers is a refusal for the other store to referee) read best alone. It is the
store's own helper: it works on HybridStore's targets, outbox and health, which are private to
:mod:`qts.data.hybrid.store`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qts.core.errors import StorageError
from qts.data.hybrid.outbox import MARKER_KEY, apply_op, marker

if TYPE_CHECKING:
    from qts.data.hybrid.store import HybridStore

HOSTED, DOWN, REFUSED = "hosted", "down", "refused"


def try_host(
    hybrid: HybridStore,
    name: str,
    method: str,
    args: dict[str, Any],
    outbox_entry: Callable[[Any], str | None],
    state_key: str | None,
) -> tuple[str, Any]:
    """Let ``name`` host the write: (HOSTED, result); (DOWN, error) if it does not answer;
    (REFUSED, error) if it failed but still answers a read.

    A refusal is final only if every other store refuses too (the caller decides): a store
    that answers may still have failed for a passing reason (its pool handed out a
    connection that had just been killed), and the other store, validating the same way,
    is the referee. A failed attempt never reached the outbox, so nothing of it is
    committed anywhere.
    """
    lock = hybrid._outbox.lock(name)
    if not lock.acquire(blocking=False):
        return DOWN, StorageError(f"{name} is being replayed")
    try:
        if not hybrid._outbox.caught_up(name):
            return DOWN, StorageError(f"{name} lags")
        store = hybrid._stores[name]
        last = 0
        try:
            with store.transaction():
                result = apply_op(store, method, args)
                text = outbox_entry(result)
                if text is None:
                    return HOSTED, result
                keys = (state_key,) if state_key is not None else ()
                _, last = hybrid._outbox.append([text], hybrid._mode.targets, state_keys=keys)
                store.save_state(MARKER_KEY, marker(hybrid._outbox.id, last))
        except StorageError as exc:
            if last:
                # In the outbox already: durable. Whether the host committed is unknown;
                # its marker will tell the replay.
                hybrid._failed(name, exc)
                return HOSTED, result
            if hybrid._answers(name):
                return REFUSED, exc
            hybrid._failed(name, exc)
            return DOWN, exc
        hybrid._outbox.advance(name, last)
        hybrid._health[name].ok()
        return HOSTED, result
    finally:
        lock.release()
