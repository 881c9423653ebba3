"""What only a running process knows, for its dashboard, health and metrics.

Attached to an engine, :class:`EngineOverlay` follows the cycle reports (a P3 UI subscriber, like
the console) to know when the books changed and how fresh the market data is, and reads the last
prices, the event spine's queues and the micro risk loop's timing when asked. Reads never take a
lock the trading threads hold for long: prices are one array copy, the spine's metrics are its
own snapshot.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qts.core.clock import SimulatedClock
from qts.engines.contracts import CycleReport
from qts.model.fill import Fill

if TYPE_CHECKING:
    from qts.app.wiring import Engine


class EngineOverlay:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.version = 0  # bumps with every cycle report: the books may have changed
        self.fills_seen = 0
        self.last_cycle_wall: float | None = None  # time.monotonic() of the last report
        self.last_cycle_ts: datetime | None = None
        self.started_wall = time.monotonic()
        engine.spine.ui.append(self.on_cycle)

    def on_cycle(self, report: CycleReport, fills: list[Fill]) -> None:
        with self._lock:
            self.version += 1
            self.fills_seen += len(fills)
            self.last_cycle_wall = time.monotonic()
            self.last_cycle_ts = report.ts

    def now(self) -> datetime:
        """The time the engine trades on (the venue's on the live path, never the machine's
        wall clock there; the simulated clock in paper runs)."""
        return self.engine.trading_clock.now()

    def feed_age_s(self) -> float:
        """How old the market data is, on the engine's trading clock: the seconds from the end
        of the last cycle's bar to the venue's time now. A simulated clock stands still between
        bars, so there (and before the first cycle) it is the real seconds since the last cycle
        (since the overlay started)."""
        with self._lock:
            last_wall, last_ts = self.last_cycle_wall, self.last_cycle_ts
        clock = self.engine.trading_clock
        if last_ts is None or last_wall is None or isinstance(clock, SimulatedClock):
            since = last_wall if last_wall is not None else self.started_wall
            return time.monotonic() - since
        return max(0.0, (clock.now() - last_ts).total_seconds())

    def last_prices(self) -> dict[str, int]:
        """Prices through the hot cache (``price:{symbol}``, the feed's board behind it); the
        cycle's closes for symbols without a print yet."""
        runner = self.engine.runner
        closes = runner.last_close.copy()
        symbols = self.engine.oms.universe.symbols
        cached = self.engine.cache.hot.prices(list(symbols))
        out = {s: int(closes[i]) for i, s in enumerate(symbols) if closes[i]}
        out.update({s: q.last for s, q in cached.items()})
        return out

    def broker(self) -> dict[str, Any]:
        """The broker session: the KIS adapter's WebSocket, or the in-process exchange."""
        adapter = self.engine.oms.broker
        ws = getattr(adapter, "ws", None)
        connected = bool(ws.connected) if ws is not None else True
        return {"name": getattr(adapter, "name", type(adapter).__name__), "connected": connected}

    def queues(self) -> dict[str, dict[str, Any]]:
        metrics = self.engine.spine.dispatcher.metrics()
        out: dict[str, dict[str, Any]] = {}
        for name, c in metrics["classes"].items():
            lat = c["latency"]
            out[name] = {
                "depth": c["depth"],
                "enqueued": c["enqueued"],
                "dequeued": c["dequeued"],
                "dropped": c["dropped"],
                "count": lat["count"],
                "p50_ms": lat["p50_ms"],
                "p99_ms": lat["p99_ms"],
                "max_ms": lat["max_ms"],
            }
        return out

    def micro(self) -> dict[str, Any]:
        spine = self.engine.spine
        stats = spine.micro.stats()
        periods = sorted(stats.period_ms)
        return {
            "enabled": spine.protect,
            "threaded": spine.micro.running,
            "period_target_ms": spine.micro.period * 1000.0,
            "cycles": stats.cycles,
            "missed_ticks": stats.missed_ticks,
            "actions": stats.actions,
            "warnings": stats.warnings,
            "errors": stats.errors,
            "period_p50_ms": round(statistics.median(periods), 3) if periods else None,
            "period_p99_ms": round(_quantile(periods, 0.99), 3) if periods else None,
            "period_last_ms": round(stats.period_ms[-1], 3) if stats.period_ms else None,
        }

    def live(self) -> dict[str, Any]:
        engine = self.engine
        runner = engine.runner
        return {
            "clock": self.now().isoformat(),
            "trading_enabled": runner.trading_enabled,
            "safety_state": runner.safety.state.value,
            "cycles": runner.cycles,
            "cycle_latency": engine.spine.cycle_latency.snapshot(),
            "feed_age_s": round(self.feed_age_s(), 3),
            "last_cycle": self.last_cycle_ts.isoformat() if self.last_cycle_ts else None,
            "broker": self.broker(),
            "queues": self.queues(),
            "micro": self.micro(),
            "cache": self.engine.cache.report(),
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    i = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]
