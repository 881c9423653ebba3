"""Order round trip through the local KIS-compatible exchange, over real HTTP and WebSocket.

Per order: ``KisBroker.submit`` (token, rate limiter, POST order-cash) → the ack → the fake
matches the next one-minute bar → the encrypted H0STCNI0 fill notice reaches the adapter's
WebSocket thread and is queued as a Fill. Measured twice: with the rate limiter idle, and with
it saturated by two threads that call inquire-price as fast as the limiter lets them (so every
order waits for a slot, as during a busy session at KIS's 20/s).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import date, timedelta
from datetime import time as dtime

import numpy as np
from pydantic import SecretStr

from qts.brokers.base import OrderRequest
from qts.brokers.kis import KisBroker, KisConfig, KisMode
from qts.brokers.kis.fake import REAL_APP, FakeKisOptions, FakeKisServer
from qts.core.clock import SimulatedClock
from qts.core.time import at
from qts.model.enums import OrderSide, OrderType
from qts.model.fill import Fill
from qts.model.frame import BarFrame, Universe
from qts.model.instrument import Instrument

DAY = date(2026, 3, 4)
SYMBOL, OTHER = "005930", "000660"
PRICES = {SYMBOL: 70_000, OTHER: 180_000}
UNIVERSE = Universe(tuple(PRICES))


class Bars:
    def __init__(self) -> None:
        self.start = at(DAY, dtime(9, 0))

    def next(self) -> BarFrame:
        start, self.start = self.start, self.start + timedelta(minutes=1)
        px = np.array([PRICES[s] for s in UNIVERSE.symbols], dtype=np.int64)
        n = len(UNIVERSE)
        return BarFrame(
            UNIVERSE,
            start,
            self.start,
            px.copy(),
            px.copy(),
            px.copy(),
            px,
            np.full(n, 1_000_000, dtype=np.int64),
            np.ones(n, dtype=np.bool_),
        )


def run(
    broker: KisBroker, server: FakeKisServer, bars: Bars, n: int, tag: str, pace_s: float = 0.0
) -> tuple[list[float], list[float]]:
    """``pace_s``: start orders at least this far apart (below the limit: the limiter idles)."""
    acks: list[float] = []
    trips: list[float] = []
    next_start = time.perf_counter()
    for i in range(n):
        coid = f"{tag}-{i}"
        delay = next_start - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        next_start = t0 + pace_s
        ack = broker.submit(OrderRequest(coid, SYMBOL, OrderSide.BUY, OrderType.MARKET, 1))
        t_ack = time.perf_counter()
        if not ack.accepted:
            raise RuntimeError(f"order {coid} refused: {ack.code} {ack.reason}")
        server.advance(bars.next())
        filled = False
        while not filled:
            if not broker.wait_events(1, 10.0):
                raise RuntimeError(f"no fill notice for {coid} within 10 s")
            filled = any(
                isinstance(e, Fill) and e.client_order_id == coid for e in broker.drain_events()
            )
        t_fill = time.perf_counter()
        acks.append((t_ack - t0) * 1000)
        trips.append((t_fill - t0) * 1000)
    return acks, trips


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values), q)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="orders per scenario")
    parser.add_argument("--rate", type=float, default=19.0, help="adapter rate limit per second")
    args = parser.parse_args()

    clock = SimulatedClock(at(DAY, dtime(9, 0)))
    instruments = {s: Instrument.krx(s) for s in PRICES}
    server = FakeKisServer(
        instruments,
        clock,
        options=FakeKisOptions(mode=KisMode.REAL, ping_interval_s=10.0),
        reference_prices=PRICES,
    ).start()
    config = KisConfig(
        mode=KisMode.REAL,
        app_key=SecretStr(REAL_APP.app_key),
        app_secret=SecretStr(REAL_APP.app_secret),
        cano=SecretStr(REAL_APP.cano),
        hts_id=SecretStr(REAL_APP.hts_id),
        base_url=server.rest_url,
        ws_url=server.ws_url,
        rate_limit_per_s=args.rate,
    )
    broker = KisBroker(config, clock=clock, instruments=instruments)
    bars = Bars()
    try:
        assert broker.ws is not None and broker.ws.wait_ready(10)
        pace = 1.2 / args.rate  # every request of an order (just the POST) fits under the limit
        run(broker, server, bars, 5, "warmup", pace)
        waited_before = broker.rest.limiter.waited_s
        idle_acks, idle_trips = run(broker, server, bars, args.n, "idle", pace)
        idle_wait = broker.rest.limiter.waited_s - waited_before

        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                broker.quote(OTHER)

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        waited_before = broker.rest.limiter.waited_s
        busy_acks, busy_trips = run(broker, server, bars, args.n, "busy")
        stop.set()
        for t in threads:
            t.join(5)
        limiter_wait = broker.rest.limiter.waited_s - waited_before
    finally:
        broker.close()
        server.stop()

    result = {
        "benchmark": "broker_roundtrip",
        "broker": "kis (local fake, real mode)",
        "orders_per_scenario": args.n,
        "rate_limit_per_s": args.rate,
        "roundtrip_p50_ms": pct(idle_trips, 50),
        "roundtrip_p99_ms": pct(idle_trips, 99),
        "ack_p50_ms": pct(idle_acks, 50),
        "ack_p99_ms": pct(idle_acks, 99),
        "saturated_roundtrip_p50_ms": pct(busy_trips, 50),
        "saturated_roundtrip_p99_ms": pct(busy_trips, 99),
        "saturated_ack_p50_ms": pct(busy_acks, 50),
        "saturated_ack_p99_ms": pct(busy_acks, 99),
        "idle_limiter_wait_s": round(idle_wait, 3),
        "saturated_limiter_wait_s": round(limiter_wait, 3),
        "server_rate_limited": server.stats.rate_limited,
        "server_max_requests_in_1s": server.stats.max_in_window(REAL_APP.app_key),
    }
    print(
        f"idle:      submit->ack p50 {result['ack_p50_ms']} ms, p99 {result['ack_p99_ms']} ms; "
        f"submit->fill notice p50 {result['roundtrip_p50_ms']} ms, "
        f"p99 {result['roundtrip_p99_ms']} ms"
    )
    print(
        f"saturated: submit->ack p50 {result['saturated_ack_p50_ms']} ms, "
        f"p99 {result['saturated_ack_p99_ms']} ms; submit->fill notice p50 "
        f"{result['saturated_roundtrip_p50_ms']} ms, p99 {result['saturated_roundtrip_p99_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
