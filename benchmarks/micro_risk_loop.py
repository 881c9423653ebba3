"""Micro risk loop: cycle period and per-cycle compute time at 10, 1,000 and 10,000 positions.

Set-up per run: the loop runs every 100 ms on a wall clock; a market-data thread moves every price
one tick up or down once per period (ticks spread over the period, plus a VKOSPI value) — far
more movement than a real 100 ms, so the rules keep acting; an order-manager thread fills every
emergency exit as it arrives and opens a fresh position for each one closed, so the book keeps
its size; and a separate *process* spins pure Python to keep the other core busy (CD-004).

Two variants of the loop (ADR 0006): on a thread of this process (``MicroRiskLoop`` over a
``ShadowBook``), and in its own process (``MicroRiskProcess`` over a ``SharedShadowBook``; the
feed and order-manager threads stay here). Both are also run at 1,000 positions with CPU-bound
Python in *this* process — ETEDA-like bursts (30 ms every 500 ms) and a thread that never stops —
which is what separates them. Also: the per-position reference evaluator's compute at 1,000.
Latency is from the start of the cycle that sent an action to the sink call in this process.
Last line: one JSON object (thread numbers unprefixed, process numbers prefixed ``process_``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import sys
import threading
import time
from datetime import datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent

import numpy as np

from qts.core.clock import WallClock
from qts.market.krx.tick_size import round_down, step
from qts.model.enums import Track
from qts.risk import MicroRiskAction, MicroRiskConfig, MicroRiskLoop, RiskWarning, ShadowBook
from qts.risk.process import MicroRiskProcess
from qts.risk.shared import SharedShadowBook

TRACKS = (Track.SCALP, Track.SWING, Track.PORTFOLIO)
WARM = 5


def spin(stop: MpEvent) -> None:
    """Keep one core busy with pure Python until told to stop."""
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x += i * i


def control_timer(period: float, stop: MpEvent, out: mp.SimpleQueue[list[float]]) -> None:
    """The floor: a bare timer on absolute deadlines in its own idle process. Its period spread
    is what the OS alone adds on this machine at this moment (other sessions included)."""
    origin = time.perf_counter()
    k, last, periods = 0, origin, []
    while not stop.is_set():
        k += 1
        delay = origin + k * period - time.perf_counter()
        if delay > 0 and stop.wait(delay):
            break
        now = time.perf_counter()
        periods.append((now - last) * 1_000.0)
        last = now
    out.put(periods[1:])


class QueueSink:
    """Hands actions to the order-manager thread, as the P0 queue would; never blocks."""

    def __init__(self) -> None:
        self.q: queue.SimpleQueue[tuple[MicroRiskAction, float] | None] = queue.SimpleQueue()
        self.warnings = 0

    def emit(self, action: MicroRiskAction) -> None:
        self.q.put((action, time.time()))

    def warn(self, warning: RiskWarning) -> None:
        self.warnings += 1


class Market:
    """Positions (as main books them) and prices; shared by the feed and order-manager threads."""

    def __init__(self, book: ShadowBook, clock: WallClock, n: int, seed: int) -> None:
        self.book, self.clock = book, clock
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.prices: dict[str, int] = {}
        self.held: dict[str, tuple[int, int]] = {}
        for i in range(n):
            sym = f"S{i:05d}"
            self.prices[sym] = round_down(self.rng.randint(3_000, 400_000))
            self.open(sym, minutes_ago=self.rng.randint(0, 90))

    def open(self, sym: str, minutes_ago: int = 0) -> None:
        price = self.prices[sym]
        avg = round_down(max(100, int(price * (1 + self.rng.uniform(-0.015, 0.015)))))
        qty = self.rng.randint(1, 500)
        self.held[sym] = (qty, qty * avg)
        opened = self.clock.now() - timedelta(minutes=minutes_ago)
        track = TRACKS[self.rng.randrange(3)]
        self.book.on_position(sym, qty, qty * avg, opened, track, price=price)

    def fill(self, action: MicroRiskAction) -> None:
        with self.lock:
            qty, cost = self.held[action.symbol]
            left = qty - action.qty
            if left <= 0:
                self.book.on_position(action.symbol, 0, 0, None, Track.SWING)
                self.open(action.symbol)
            else:
                self.held[action.symbol] = (left, cost * left // qty)
                self.book.on_position(action.symbol, left, cost * left // qty, None, Track.SWING)


def feed(
    m: Market, loop: MicroRiskLoop | MicroRiskProcess, period: float, stop: threading.Event
) -> None:
    """Move every price one tick once per period, in small batches spread over the period."""
    symbols = list(m.prices)
    batch = max(1, len(symbols) // 50)
    rng = random.Random(3)
    while not stop.is_set():
        t0 = time.perf_counter()
        for k in range(0, len(symbols), batch):
            now = m.clock.now()
            for sym in symbols[k : k + batch]:
                q = step(m.prices[sym], 1 if rng.random() < 0.5 else -1)
                m.prices[sym] = q
                m.book.on_price(sym, q, now)
            if stop.wait(period / 60):
                return
        loop.on_vol_index(18.0 + rng.random() * 5, m.clock.now())
        m.book.heartbeat()
        rest = period - (time.perf_counter() - t0)
        if rest > 0 and stop.wait(rest):
            return


def oms(m: Market, sink: QueueSink, latencies: list[float]) -> None:
    while (item := sink.q.get()) is not None:
        a, received = item
        if isinstance(a.ts, datetime):
            latencies.append((received - a.ts.timestamp()) * 1_000.0)
        if a.action_type.is_exit:
            m.fill(a)


def cpu_thread(stop: threading.Event, burst: float | None) -> None:
    """Pure-Python work in this process: all the time (``burst`` None), or an ETEDA-like
    ``burst`` seconds of work every 500 ms."""
    x = 0
    while not stop.is_set():
        end = time.perf_counter() + (burst or 0.05)
        while time.perf_counter() < end:
            for i in range(1_000):
                x += i * i
        if burst is not None and stop.wait(0.5 - burst):
            return


def pct(xs: list[float] | tuple[float, ...], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)), 3) if len(xs) else float("nan")


def run(
    n: int,
    cycles: int,
    period: float,
    *,
    process: bool = False,
    cpu: str | None = None,
    nice: int | None = None,
    adjustments: bool = False,
) -> dict[str, float]:
    """One measured run; ``cpu``: None, "bursts" (ETEDA-like) or "always" in this process."""
    ctx = mp.get_context("spawn")
    control_stop = ctx.Event()
    control_out: mp.SimpleQueue[list[float]] = ctx.SimpleQueue()
    control = ctx.Process(
        target=control_timer, args=(period, control_stop, control_out), daemon=True
    )
    control.start()
    load0 = os.getloadavg()[0]
    clock = WallClock()
    sink = QueueSink()
    config = MicroRiskConfig(emit_adjustments=adjustments)
    book: ShadowBook
    loop: MicroRiskLoop | MicroRiskProcess
    if process:
        book = SharedShadowBook(clock, capacity=max(1_024, 2 * n))
        loop = MicroRiskProcess(book, sink, clock, config, period, nice=nice)
    else:
        book = ShadowBook(clock)
        loop = MicroRiskLoop(book, sink, clock, config, period, nice=nice)
    m = Market(book, clock, n, seed=n)
    stop = threading.Event()
    latencies: list[float] = []
    threads = [
        threading.Thread(target=feed, args=(m, loop, period, stop), daemon=True),
        threading.Thread(target=oms, args=(m, sink, latencies), daemon=True),
    ]
    if cpu is not None:
        burst = 0.03 if cpu == "bursts" else None
        threads.append(threading.Thread(target=cpu_thread, args=(stop, burst), daemon=True))
    loop.start()
    loop.wait_for_cycle(1, 60)  # a child process needs a moment to start
    for t in threads:
        t.start()
    loop.wait_for_cycle(WARM + cycles, cycles * period * 10 + 60)
    stop.set()  # feed and CPU threads first: they call into the loop
    for t in threads[:1] + threads[2:]:
        t.join()
    loop.stop()
    s = loop.stats()
    sink.q.put(None)
    threads[1].join()
    if isinstance(book, SharedShadowBook):
        book.close()
    control_stop.set()
    floor = control_out.get()
    control.join()
    assert s is not None
    per, comp = s.period_ms[WARM:], s.compute_ms[WARM:]
    return {
        "period_p1_ms": pct(per, 1),
        "period_p50_ms": pct(per, 50),
        "period_p99_ms": pct(per, 99),
        "period_max_ms": round(max(per), 3),
        "compute_p50_ms": pct(comp, 50),
        "compute_p99_ms": pct(comp, 99),
        "compute_max_ms": round(max(comp), 3),
        "latency_p99_ms": pct(latencies, 99),
        "control_p1_ms": pct(floor, 1),
        "control_p99_ms": pct(floor, 99),
        "load": round((load0 + os.getloadavg()[0]) / 2, 1),
        "missed_ticks": s.missed_ticks,
        "actions": s.actions,
        "errors": s.errors,
        "cycles": len(comp),
    }


def reference_compute(n: int, cycles: int) -> dict[str, float]:
    """The per-position evaluator, cycle by cycle on this thread (no feed thread)."""
    clock = WallClock()
    book = ShadowBook(clock)
    sink = QueueSink()
    loop = MicroRiskLoop(book, sink, clock, vectorised=False)
    m = Market(book, clock, n, seed=n)
    rng = random.Random(5)
    for _ in range(cycles):
        now = clock.now()
        for sym, p in m.prices.items():
            q = step(p, 1 if rng.random() < 0.5 else -1)
            m.prices[sym] = q
            book.on_price(sym, q, now)
        loop.run_once()
        while not sink.q.empty():
            item = sink.q.get()
            if item is not None and item[0].action_type.is_exit:
                m.fill(item[0])
    comp = loop.stats().compute_ms
    return {"compute_p50_ms": pct(comp, 50), "compute_p99_ms": pct(comp, 99)}


def line(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<34} period p1/p50/p99/max {r['period_p1_ms']:7.2f}/{r['period_p50_ms']:7.2f}/"
        f"{r['period_p99_ms']:7.2f}/{r['period_max_ms']:7.2f} ms  compute p50/p99 "
        f"{r['compute_p50_ms']:6.3f}/{r['compute_p99_ms']:7.3f} ms  latency p99 "
        f"{r['latency_p99_ms']:6.2f} ms  missed {r['missed_ticks']}  actions {r['actions']}  "
        f"[control timer p1/p99 {r['control_p1_ms']:.2f}/{r['control_p99_ms']:.2f} ms, "
        f"load {r['load']}]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cycles", type=int, default=100, help="measured cycles per run")
    ap.add_argument("--period", type=float, default=0.1)
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--nice", type=int, default=None, help="nice value for the loop thread")
    ap.add_argument("--no-busy", action="store_true", help="leave the other core idle")
    ap.add_argument("--thread-only", action="store_true", help="skip the process variant")
    ap.add_argument(
        "--emit-adjustments",
        action="store_true",
        help="also send every trailing-stop ratchet to the sink (off by default, as in the app)",
    )
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for this process (seconds; CPython default 0.005)",
    )
    args = ap.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    ctx = mp.get_context("spawn")
    busy_stop = ctx.Event()
    busy = None if args.no_busy else ctx.Process(target=spin, args=(busy_stop,), daemon=True)
    if busy is not None:
        busy.start()
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    c, p = args.cycles, args.period
    kw = {"nice": args.nice, "adjustments": args.emit_adjustments}
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            results[f"thread {n}"] = run(n, c, p, **kw)
        results["thread 1000 + ETEDA bursts"] = run(1_000, c, p, cpu="bursts", **kw)
        results["thread 1000 + CPU thread"] = run(1_000, c, p, cpu="always", **kw)
        if not args.thread_only:
            results["process 1000"] = run(1_000, c, p, process=True, **kw)
            results["process 1000 + ETEDA bursts"] = run(
                1_000, c, p, process=True, cpu="bursts", **kw
            )
            results["process 1000 + CPU thread"] = run(
                1_000, c, p, process=True, cpu="always", **kw
            )
            results["process 10000"] = run(10_000, c, p, process=True, **kw)
        ref = reference_compute(1_000, 30)
    finally:
        busy_stop.set()
        if busy is not None:
            busy.join()
    load_after = os.getloadavg()[0]

    for name, r in results.items():
        print(line(name, r))
    print(
        f"reference evaluator 1000: compute p50 {ref['compute_p50_ms']:.3f} ms, "
        f"p99 {ref['compute_p99_ms']:.3f} ms"
    )

    target = p * 1_000
    sizes = {k: v for k, v in results.items() if k.startswith("thread ") and "+" not in k}
    out: dict[str, object] = {
        "benchmark": "micro_risk_loop",
        "cpus": os.cpu_count(),
        "busy_process": busy is not None,
        "loadavg_1m_before": round(load_before, 2),
        "loadavg_1m_after": round(load_after, 2),
        "target_period_ms": target,
        "cycles_per_run": c,
        "loop_nice": args.nice,
        "emit_adjustments": args.emit_adjustments,
        "switch_interval_s": sys.getswitchinterval(),
        "period_p1_ms": min(r["period_p1_ms"] for r in sizes.values()),
        "period_p50_ms": max(r["period_p50_ms"] for r in sizes.values()),
        "period_p99_ms": max(r["period_p99_ms"] for r in sizes.values()),
    }
    keys = {
        "thread": "",
        "process": "process_",
    }
    for name, r in results.items():
        variant, rest = name.split(" ", 1)
        suffix = rest.replace(" + ETEDA bursts", "_eteda_bursts").replace(" + CPU thread", "_cpu")
        pre = keys[variant]
        for k in (
            "period_p1_ms",
            "period_p99_ms",
            "compute_p50_ms",
            "compute_p99_ms",
            "control_p99_ms",
        ):
            out[f"{pre}{k}_{suffix}"] = r[k]
        out[f"{pre}latency_p99_ms_{suffix}"] = r["latency_p99_ms"]
        out[f"{pre}missed_ticks_{suffix}"] = r["missed_ticks"]
    out["compute_p99_ms_1000_reference"] = ref["compute_p99_ms"]
    within = [
        r["period_p1_ms"] >= target - 5 and r["period_p99_ms"] <= target + 5 for r in sizes.values()
    ]
    out["thread_period_within_5ms"] = all(within)
    if "thread 1000" in results:
        out["compute_p99_under_5ms_at_1000"] = results["thread 1000"]["compute_p99_ms"] < 5.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
