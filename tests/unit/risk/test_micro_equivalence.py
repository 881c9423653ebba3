"""The vectorised evaluator makes exactly the reference evaluator's decisions (vectorbt-style)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_kit import T0, Rig

from qts.market.krx.tick_size import round_down, round_nearest
from qts.model.enums import Track
from qts.risk import (
    LocalRows,
    MicroRiskConfig,
    ShadowSnapshot,
    evaluate_reference,
    evaluate_vectorised,
)
from qts.risk.rules.volatility import VolLevel
from qts.risk.shadow import TRACK_CODES, to_us

CONFIG = MicroRiskConfig()
TRACKS: list[object] = [Track.SCALP, Track.SWING, Track.PORTFOLIO, "DAYTRADE"]


def build(rows: list[dict[str, int]]) -> tuple[ShadowSnapshot, LocalRows, np.ndarray]:
    n = len(rows)
    col = {k: np.array([r[k] for r in rows], np.int64) for k in rows[0]} if rows else {}

    def c(name: str) -> np.ndarray:
        return col.get(name, np.zeros(0, np.int64))

    tracks = [TRACKS[r["track"]] for r in rows]
    snap = ShadowSnapshot(
        slots=np.arange(n, dtype=np.int64),
        epoch=np.arange(1, n + 1, dtype=np.int64),
        qty=c("qty"),
        cost=c("cost"),
        price=c("price"),
        high=c("high"),
        low=c("low"),
        price_us=c("price_us"),
        opened_us=c("opened_us"),
        sync_us=c("opened_us"),
        track=np.array([TRACK_CODES.get(t, -1) for t in tracks], np.int64),  # type: ignore[call-overload]
        etf=c("etf").astype(np.bool_),
        slot_symbols=[f"S{i}" for i in range(n)],
        slot_tracks=tracks,
        capacity=n,
        last_sync_us=0,
    )
    local = LocalRows(
        stop_active=c("active").astype(np.bool_),
        stop_price=c("stop"),
        partial_done=c("partial").astype(np.bool_),
        vol_done=c("vol").astype(np.bool_),
        extended=c("ext").astype(np.bool_),
        warn_bits=c("bits"),
    )
    return snap, local, c("pending").astype(np.bool_)


def same(
    snap: ShadowSnapshot, local: LocalRows, pending: np.ndarray, now: datetime, level: VolLevel
) -> None:
    ref = evaluate_reference(snap, local, pending, now, level, CONFIG)
    vec = evaluate_vectorised(snap, local, pending, now, level, CONFIG)
    assert vec.actions == ref.actions
    assert vec.warnings == ref.warnings
    assert [(r, type(e)) for r, e in vec.errors] == [(r, type(e)) for r, e in ref.errors]
    assert vec.suppressed == ref.suppressed
    assert vec.local.same_as(ref.local)


def random_row(rng: random.Random, now_us: int, bad_tracks: bool) -> dict[str, int]:
    etf = rng.random() < 0.1
    avg = round_nearest(rng.choice([rng.randint(5, 2_000), rng.randint(2_000, 900_000)]), etf)
    qty = rng.choice([1, 2, 3, rng.randint(1, 5_000)])
    cost = qty * avg + rng.randint(-qty // 2, qty // 2)
    price = round_nearest(max(5, avg * (1 + rng.uniform(-0.04, 0.04))), etf)
    high = max(price, avg, round_nearest(avg * (1 + rng.uniform(0, 0.05)), etf))
    low = min(price, avg, round_nearest(max(5, avg * (1 - rng.uniform(0, 0.05))), etf))
    active = rng.random() < 0.4
    stop = round_down(max(5, int(high * rng.uniform(0.97, 1.0))), etf) if active else 0
    return {
        "qty": qty,
        "cost": max(0, cost),
        "price": price,
        "high": high,
        "low": low,
        "etf": int(etf),
        "opened_us": now_us
        - rng.choice([rng.randint(0, 10_000), rng.randint(0, 900_000)]) * 1_000_000,
        "price_us": now_us - rng.randint(0, 1_500) * 1_000,
        "track": rng.randint(0, 3 if bad_tracks else 2),
        "active": int(active),
        "stop": stop,
        "partial": int(rng.random() < 0.2),
        "vol": int(rng.random() < 0.2),
        "ext": int(rng.random() < 0.2),
        "bits": rng.randint(0, 7),
        "pending": int(rng.random() < 0.15),
    }


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    level=st.sampled_from(list(VolLevel)),
    bad=st.booleans(),
)
def test_vectorised_equals_reference_on_random_books(
    seed: int, n: int, level: VolLevel, bad: bool
) -> None:
    rng = random.Random(seed)
    now = T0 + timedelta(days=rng.randint(0, 10), microseconds=rng.randint(0, 10**6))
    rows = [random_row(rng, to_us(now), bad) for _ in range(n)]
    if not rows:
        return
    snap, local, pending = build(rows)
    same(snap, local, pending, now, level)


def test_vectorised_equals_reference_on_a_large_book() -> None:
    rng = random.Random(7)
    now = T0 + timedelta(days=3)
    rows = [random_row(rng, to_us(now), True) for _ in range(3_000)]
    snap, local, pending = build(rows)
    for level in VolLevel:
        same(snap, local, pending, now, level)


def test_the_two_loops_send_the_same_stream() -> None:
    """A scripted session — ticks, fills of the exits, new positions, a volatility spike — run
    through a vectorised and a reference loop: identical actions and warnings, cycle by cycle."""
    rigs = [Rig(vectorised=True), Rig(vectorised=False)]
    rng = random.Random(11)
    symbols = [f"S{i:03d}" for i in range(60)]
    prices = {s: round_down(rng.randint(3_000, 400_000)) for s in symbols}
    tracks = [Track.SCALP, Track.SWING, Track.PORTFOLIO]
    qtys = {s: rng.randint(1, 300) for s in symbols}
    opened = {s: T0 - timedelta(minutes=rng.randint(0, 70)) for s in symbols}
    track_of = {s: tracks[i % 3] for i, s in enumerate(symbols)}
    for r in rigs:
        for s in symbols:
            r.book.on_position(
                s, qtys[s], qtys[s] * prices[s], opened[s], track_of[s], price=prices[s]
            )
    for cycle in range(300):
        moves = {
            s: round_down(max(100, int(prices[s] * (1 + rng.gauss(0, 0.003))))) for s in symbols
        }
        prices.update(moves)
        vol = 31.0 if 150 <= cycle < 160 else (26.0 if cycle % 50 == 0 else 18.0)
        streams = []
        for r in rigs:
            r.clock.advance(timedelta(milliseconds=100))
            for s, p in moves.items():
                r.book.on_price(s, p, r.clock.now())
            r.loop.on_vol_index(vol, r.clock.now())
            r.book.heartbeat()
            rep = r.loop.run_once()
            streams.append(
                (
                    [a.unstamped() for a in rep.actions],
                    [(w.code, w.symbol) for w in rep.warnings],
                )
            )
            for a in rep.actions:  # the order manager fills every exit at once
                if a.action_type.is_exit:
                    left = r.book.shadow(a.symbol)
                    assert left is not None
                    q = left.qty - a.qty
                    r.book.on_position(
                        a.symbol, q, left.cost_basis * q // left.qty, None, left.track
                    )
        assert streams[0] == streams[1], f"cycle {cycle}"
    kinds = {a.action_type for a in rigs[0].sink.actions}
    reasons = {a.reason for a in rigs[0].sink.actions}
    assert len(kinds) >= 4 and len(reasons) >= 5, (kinds, reasons)
