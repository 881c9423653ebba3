"""``/metrics``: the run in Prometheus text format (prometheus-client, a registry per process).

Series (all read at scrape time from the shared view and the running engine):

- ``qts_cycles_total``, ``qts_cycle_latency_seconds{quantile}``: ETEDA cycles and their wall time
  (bar arrival to end of cycle);
- ``qts_event_queue_depth{priority}``, ``qts_event_queue_latency_seconds{priority,quantile}``,
  ``qts_events_handled_total{priority}``: the P0–P3 spine;
- ``qts_micro_loop_period_seconds{quantile}``, ``qts_micro_loop_cycles_total``;
- ``qts_fills_total``, ``qts_order_rejections_total``, ``qts_orders_total``;
- ``qts_equity_krw``, ``qts_pnl_krw{kind=day|total|realized|unrealized}``;
- ``qts_safety_state{state}`` (1 for the current state), ``qts_trading_enabled``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qts.safety.state import SafetyState
from qts.ui.cache import ViewCache

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RunCollector(Collector):
    def __init__(self, cache: ViewCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        view = self.cache.get()
        live: dict[str, Any] = view.get("live") or {}
        counts = view["counts"]
        account = view["account"]
        cycles = CounterMetricFamily("qts_cycles", "ETEDA cycles run by this process")
        cycles.add_metric([], live.get("cycles", counts["cycles"]))
        yield cycles
        lat = live.get("cycle_latency")
        if lat:
            g = GaugeMetricFamily(
                "qts_cycle_latency_seconds", "ETEDA cycle wall time", labels=["quantile"]
            )
            for q, key in (("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")):
                g.add_metric([q], lat[key] / 1000.0)
            yield g
        queues: dict[str, Any] = live.get("queues") or {}
        if queues:
            depth = GaugeMetricFamily("qts_event_queue_depth", "queued events", labels=["priority"])
            handled = CounterMetricFamily(
                "qts_events_handled", "events handed to handlers", labels=["priority"]
            )
            qlat = GaugeMetricFamily(
                "qts_event_queue_latency_seconds",
                "enqueue to handler start",
                labels=["priority", "quantile"],
            )
            for prio, q in sorted(queues.items()):
                depth.add_metric([prio], q["depth"])
                handled.add_metric([prio], q["dequeued"])
                for quant, key in (("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")):
                    qlat.add_metric([prio, quant], q[key] / 1000.0)
            yield depth
            yield handled
            yield qlat
        micro: dict[str, Any] = live.get("micro") or {}
        if micro:
            mc = CounterMetricFamily("qts_micro_loop_cycles", "micro risk loop cycles")
            mc.add_metric([], micro["cycles"])
            yield mc
            mp = GaugeMetricFamily(
                "qts_micro_loop_period_seconds",
                "micro risk loop period (threaded loop; target 0.1 s)",
                labels=["quantile"],
            )
            for quant, key in (("0.5", "period_p50_ms"), ("0.99", "period_p99_ms")):
                if micro.get(key) is not None:
                    mp.add_metric([quant], micro[key] / 1000.0)
            mp.add_metric(["target"], micro["period_target_ms"] / 1000.0)
            yield mp
        for name, doc, value in (
            ("qts_fills", "fills booked", counts["fills"]),
            ("qts_orders", "orders created", counts["orders"]),
            ("qts_order_rejections", "orders the venue rejected", counts["rejections"]),
        ):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
        eq = GaugeMetricFamily("qts_equity_krw", "cash plus market value, won")
        eq.add_metric([], account["equity"])
        yield eq
        pnl = GaugeMetricFamily("qts_pnl_krw", "profit and loss, won", labels=["kind"])
        for kind in ("day", "total", "realized", "unrealized"):
            pnl.add_metric([kind], account[f"{kind}_pnl" if kind in ("day", "total") else kind])
        yield pnl
        state = live.get("safety_state") or view["safety"]["state"]
        st = GaugeMetricFamily("qts_safety_state", "1 for the current state", labels=["state"])
        for s in SafetyState:
            st.add_metric([s.value], 1.0 if s.value == state else 0.0)
        yield st
        if "trading_enabled" in live:
            te = GaugeMetricFamily("qts_trading_enabled", "1 when ETEDA may trade")
            te.add_metric([], 1.0 if live["trading_enabled"] else 0.0)
            yield te


def registry_for(cache: ViewCache) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(cache))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
