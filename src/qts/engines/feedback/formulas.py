"""The §8.4 formulas, with the project's decisions on the vague parts.

- Slippage is *signed against the trader*: positive means the fill was worse than the decision
  price (a BUY above it, a SELL below it). The spec's formula is not side-aware; for a BUY both
  agree (oracle 75,000 → 75,050 = 6.67 bps).
- ``fill_ratio`` is filled / ordered (decisions.md); the quality score's "partial fill ratio" is
  the unfilled share, ``1 - fill_ratio``.
- Prices derived from feedback (expected entry) land on the KRX tick grid the trader's worse way
  (BUY up, SELL down), so a limit at that price is a valid order that still expects the slippage.
"""

from __future__ import annotations

import math

from qts.market.krx.tick_size import TickTable, tick_table
from qts.model.enums import OrderSide

DEFAULT_SLIPPAGE_BPS = 10.0
DEFAULT_IMPACT_BPS = 15.0
DEFAULT_QUALITY = 0.75
MAX_IMPACT_BPS = 20.0  # the largest impact an order may be expected to have before it is cut
SLIPPAGE_SATURATION_BPS = 50.0
LATENCY_SATURATION_MS = 1_000.0
IMPACT_FACTOR = 10.0  # the spec's empirical factor of the simplified Kyle's lambda


def slippage_bps(avg_fill_price: float, decision_price: float, side: OrderSide) -> float:
    """Cost of the fill against the decision price in bps; positive = worse for the trader."""
    if decision_price <= 0:
        raise ValueError(f"slippage: decision price must be positive, got {decision_price}")
    raw = (avg_fill_price - decision_price) / decision_price * 10_000.0
    return raw if side is OrderSide.BUY else -raw


def fill_ratio(filled_qty: int, ordered_qty: int) -> float:
    """Filled share of the order, 0..1."""
    if ordered_qty <= 0:
        raise ValueError(f"fill ratio: ordered qty must be positive, got {ordered_qty}")
    return min(max(filled_qty / ordered_qty, 0.0), 1.0)


def quality_score(slip_bps: float, partial_fill_ratio: float, latency_ms: float) -> float:
    """0.5 × slippage part + 0.3 × filled part + 0.2 × latency part, in [0, 1].

    ``partial_fill_ratio`` is the *unfilled* share (0 = everything filled); oracle: 8.5 bps,
    0.0, 45.2 ms ⇒ 0.906 (C23: the formula wins over the printed 0.92)."""
    slip = 1.0 - min(abs(slip_bps) / SLIPPAGE_SATURATION_BPS, 1.0)
    filled = 1.0 - min(max(partial_fill_ratio, 0.0), 1.0)
    speed = 1.0 - min(max(latency_ms, 0.0) / LATENCY_SATURATION_MS, 1.0)
    return min(max(0.5 * slip + 0.3 * filled + 0.2 * speed, 0.0), 1.0)


def market_impact_bps(order_qty: int, avg_daily_volume: int, spread_bps: float) -> float:
    """spread × √(qty / ADV) × 10; no volume known ⇒ the no-data default."""
    if avg_daily_volume <= 0:
        return DEFAULT_IMPACT_BPS
    return spread_bps * math.sqrt(max(order_qty, 0) / avg_daily_volume) * IMPACT_FACTOR


def size_cap(qty: int, estimated_impact_bps: float, max_impact_bps: float = MAX_IMPACT_BPS) -> int:
    """Cut ``qty`` in proportion when the expected impact is above the acceptable one
    (oracle: 1,000 shares at 50 bps with a 20 bps cap ⇒ 400)."""
    if qty <= 0 or estimated_impact_bps <= max_impact_bps:
        return max(qty, 0)
    return int(qty * max_impact_bps / estimated_impact_bps)


def expected_entry_price(
    price: int, side: OrderSide, expected_slippage_bps: float, grid: TickTable | bool = False
) -> int:
    """The price the trade is expected to get: BUY × (1 + bps), SELL × (1 − bps), on the grid
    the worse way (oracle: 75,000 BUY with 10 bps ⇒ 75,075 before the grid; 75,100 on it)."""
    bps = max(expected_slippage_bps, 0.0)
    g = grid if isinstance(grid, TickTable) else tick_table(None, etf=grid)
    if side is OrderSide.BUY:
        return g.round_up(max(1, math.ceil(price * (1.0 + bps / 10_000.0) - 1e-9)))
    return g.round_down(max(1, math.floor(price * (1.0 - bps / 10_000.0) + 1e-9)))


def raw_entry_price(price: float, side: OrderSide, expected_slippage_bps: float) -> float:
    """The §8.4 slippage-adjusted entry before the tick grid (oracle 75,000 ⇒ 75,075)."""
    sign = 1.0 if side is OrderSide.BUY else -1.0
    return price * (1.0 + sign * expected_slippage_bps / 10_000.0)
