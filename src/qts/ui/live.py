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

    def feed_age_s(self) -> float:
        """Wall seconds since the last cycle (since start before the first)."""
        last = self.last_cycle_wall
        return time.monotonic() - (last if last is not None else self.started_wall)

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
            "clock": engine.clock.now().isoformat(),
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
