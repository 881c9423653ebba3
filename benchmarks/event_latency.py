"""P0 enqueue→handler-start latency of the event dispatcher, idle and under a P1 flood.

Three runs, each on a fresh ``EventDispatcher`` with its default configuration:
- idle: a producer thread publishes P0 fills about 1 ms apart, nothing else runs;
- flood: the same, while another producer thread publishes P1 ticks paced to ``--rate`` per
  second (100 symbols, so both P1 lanes work) and the P1 handler updates a price map;
- saturated: the same flood with a P1 handler that also burns ``--saturated-work-us`` of CPU per
  tick, so the P1 workers cannot keep up: the GIL is always contended and P1 drops.

The P1 rate printed is the one achieved (published ticks / flood time), with the handled and
dropped counts. P0 latencies are exact samples (the dispatcher's own histogram p99, an upper
bound, is printed next to them). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from dataclasses import replace
from typing import Any

from qts.events import DispatcherConfig, Event, EventDispatcher, EventPriority, EventType

P0, P1 = EventPriority.P0, EventPriority.P1
SYMBOLS = [f"{i:06d}" for i in range(100)]


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, min(len(sorted_ms), math.ceil(q * len(sorted_ms) - 1e-9)))
    return sorted_ms[rank - 1]


def run(
    config: DispatcherConfig,
    p0_events: int,
    spacing_s: float,
    rate: float,
    warmup_s: float,
    p1_work_us: float = 0.0,
) -> dict[str, Any]:
    dispatcher = EventDispatcher(replace(config, keep_latency_samples=True))
    p0_seen: list[int] = []
    prices: dict[object, object] = {}

    def on_fill(event: Event) -> None:
        p0_seen.append(event.payload)

    work_ns = int(p1_work_us * 1000)
    clock = time.perf_counter_ns

    def on_tick(event: Event) -> None:
        prices[event.key] = event.payload
        if work_ns:  # CPU-bound work that holds the GIL
            end = clock() + work_ns
            while clock() < end:
                pass

    dispatcher.subscribe(EventType.FILL_CONFIRMED, on_fill)
    dispatcher.subscribe(EventType.PRICE_TICK, on_tick)
    dispatcher.start()

    stop_flood = threading.Event()
    flood_started = threading.Event()
    flood: dict[str, float] = {"published": 0, "elapsed": 0.0}

    def flood_producer() -> None:
        publish = dispatcher.publish
        tick = EventType.PRICE_TICK
        n = 0
        start = time.perf_counter()
        flood_started.set()
        while not stop_flood.is_set():
            due = int((time.perf_counter() - start) * rate)
            while n < due:
                publish(Event(tick, P1, 70_000 + n % 500, SYMBOLS[n % 100], "bench"))
                n += 1
            time.sleep(0.0005)
        flood["published"] = n
        flood["elapsed"] = time.perf_counter() - start

    def p0_producer() -> None:
        publish = dispatcher.publish
        fill = EventType.FILL_CONFIRMED
        for i in range(p0_events):
            publish(Event(fill, P0, i, "A", "bench"))
            time.sleep(spacing_s)

    flooder = threading.Thread(target=flood_producer, name="bench-flood")
    if rate > 0:
        flooder.start()
        flood_started.wait()
        time.sleep(warmup_s)  # let the flood reach its steady state (workload, not sync)
    producer = threading.Thread(target=p0_producer, name="bench-p0")
    producer.start()
    producer.join()
    dispatcher.wait_idle(P0)
    stop_flood.set()
    if rate > 0:
        flooder.join()
    snapshot = dispatcher.metrics()
    dispatcher.stop(drain=False)

    assert p0_seen == list(range(p0_events)), "P0 events lost or out of order"
    samples = dispatcher.latency(P0).samples
    assert samples is not None and len(samples) == p0_events
    lat = sorted(ns / 1e6 for ns in samples)
    p1 = snapshot["classes"]["P1"]
    return {
        "p50_ms": percentile(lat, 0.50),
        "p99_ms": percentile(lat, 0.99),
        "max_ms": lat[-1],
        "mean_ms": statistics.fmean(lat),
        "hist_p99_ms": snapshot["classes"]["P0"]["latency"]["p99_ms"],
        "p1_published": int(flood["published"]),
        "p1_rate": flood["published"] / flood["elapsed"] if flood["elapsed"] else 0.0,
        "p1_handled": p1["dequeued"],
        "p1_dropped": p1["dropped"],
        "p1_p99_ms": p1["latency"]["p99_ms"],
        "p0_blocked_puts": snapshot["classes"]["P0"]["blocked_puts"],
        "os_priority": snapshot["os_priority"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--p0-events", type=int, default=3000)
    parser.add_argument("--spacing-ms", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=60_000.0, help="P1 events/s to publish")
    parser.add_argument("--warmup-s", type=float, default=0.5)
    parser.add_argument(
        "--saturated-work-us", type=float, default=30.0, help="CPU per tick in the saturated run"
    )
    # Ablations (for docs/adr/0005): switch off one mechanism at a time.
    parser.add_argument("--switch-interval", type=float, default=None, help="s; 0 = leave 5 ms")
    parser.add_argument("--no-yield", action="store_true", help="workers do not stand aside")
    parser.add_argument("--no-yield-publishers", action="store_true")
    parser.add_argument("--no-nice", action="store_true", help="no OS priority for P0")
    args = parser.parse_args()

    config = DispatcherConfig()
    if args.switch_interval is not None:
        config = replace(config, switch_interval_s=args.switch_interval or None)
    if args.no_yield:
        config = replace(config, yield_to_p0=False)
    if args.no_yield_publishers:
        config = replace(config, yield_publishers=False)
    if args.no_nice:
        config = replace(config, thread_nice={})
    spacing = args.spacing_ms / 1000.0

    load_before = os.getloadavg()[0]
    runs = {
        "idle": run(config, args.p0_events, spacing, 0.0, 0.0),
        "flood": run(config, args.p0_events, spacing, args.rate, args.warmup_s),
        "saturated": run(
            config, args.p0_events, spacing, args.rate, args.warmup_s, args.saturated_work_us
        ),
    }
    for name, r in runs.items():
        print(
            f"{name:9s} P0 latency ms: p50 {r['p50_ms']:.3f}  p99 {r['p99_ms']:.3f}  "
            f"max {r['max_ms']:.3f}  mean {r['mean_ms']:.3f}  (histogram p99 {r['hist_p99_ms']})"
        )
        if r["p1_published"]:
            print(
                f"{'':9s} P1: {r['p1_rate']:,.0f} events/s published ({r['p1_published']:,}), "
                f"{r['p1_handled']:,} handled, {r['p1_dropped']:,} dropped, "
                f"P1 p99 {r['p1_p99_ms']} ms"
            )
    idle, flood, sat = runs["idle"], runs["flood"], runs["saturated"]
    print(
        f"P0 thread OS priority: {flood['os_priority'].get('qts-events-P0', 'none')}; "
        f"machine load (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    result: dict[str, Any] = {}
    for name, r in runs.items():
        for stat in ("p50", "p99", "max"):
            result[f"p0_{stat}_ms_{name}"] = round(r[f"{stat}_ms"], 4)
    result.update(
        {
            "p1_events_per_s": round(flood["p1_rate"]),
            "p1_handled": flood["p1_handled"],
            "p1_dropped": flood["p1_dropped"],
            "p1_events_per_s_saturated": round(sat["p1_rate"]),
            "p1_handled_saturated": sat["p1_handled"],
            "p1_dropped_saturated": sat["p1_dropped"],
            "p0_dropped": 0,  # run() asserts every P0 event was handled once, in order
            "p0_blocked_puts": idle["p0_blocked_puts"]
            + flood["p0_blocked_puts"]
            + sat["p0_blocked_puts"],
            "p0_events": args.p0_events,
            "switch_interval_s": config.switch_interval_s,
            "yield_to_p0": config.yield_to_p0,
            "yield_publishers": config.yield_publishers,
            "p0_os_priority": flood["os_priority"].get("qts-events-P0", "none"),
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "python": sys.version.split()[0],
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
