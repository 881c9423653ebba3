"""Liveness and readiness of a run: is the process up, and may it be trusted to trade now.

Ready means: the store answers, the broker session is up, market data is fresh while the session
is open, and the safety state allows trading. Each check says why it failed, in words an operator
can act on; none of them carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qts.data.ports import TradingStore
from qts.safety.state import SafetyState, SafetyStatus
from qts.safety.supervisor import STATE_KEY
from qts.ui.live import EngineOverlay


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


def check_store(store: TradingStore) -> Check:
    try:
        store.load_state(STATE_KEY)
    except Exception as exc:
        return Check("store", False, f"store unreadable: {type(exc).__name__}")
    return Check("store", True, "reads answer")


def check_safety(store: TradingStore, overlay: EngineOverlay | None) -> Check:
    if overlay is not None:
        state = overlay.engine.runner.safety.state
    else:
        saved = store.load_state(STATE_KEY)
        state = (SafetyStatus.from_json(saved) if saved else SafetyStatus()).state
    if state in (SafetyState.NORMAL, SafetyState.WARNING):
        return Check("safety", True, state.value)
    return Check("safety", False, f"{state.value}: trading stopped")


def check_broker(overlay: EngineOverlay) -> Check:
    b = overlay.broker()
    return Check(
        "broker", bool(b["connected"]), f"{b['name']} {'connected' if b['connected'] else 'down'}"
    )


def check_feed(
    overlay: EngineOverlay, max_age_s: float, session_open: Callable[[datetime], bool]
) -> Check:
    age = overlay.feed_age_s()
    # the venue's time on the live path: the local exchange may replay a day hours away from
    # the machine's wall clock
    if not session_open(overlay.now()):
        return Check("feed", True, f"session closed; last cycle {age:.1f} s ago")
    ok = age <= max_age_s
    return Check("feed", ok, f"last cycle {age:.1f} s ago (limit {max_age_s:g} s)")


def health(
    store: TradingStore,
    overlay: EngineOverlay | None,
    *,
    max_feed_age_s: float = 300.0,
    session_open: Callable[[datetime], bool] | None = None,
) -> dict[str, Any]:
    checks = [check_store(store)]
    if checks[0].ok:
        checks.append(check_safety(store, overlay))
    if overlay is not None:
        checks.append(check_broker(overlay))
        checks.append(check_feed(overlay, max_feed_age_s, session_open or (lambda _ts: True)))
    return {
        "live": True,
        "ready": all(c.ok for c in checks),
        "mode": "in-process" if overlay is not None else "standalone",
        "checks": {c.name: c.json() for c in checks},
    }
