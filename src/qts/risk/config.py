"""The micro risk loop's configuration; defaults are decisions.md (C20) and next-generation §3."""

from __future__ import annotations

from dataclasses import dataclass, field

from qts.risk.rules.mae import MAEConfig
from qts.risk.rules.time_in_trade import TimeInTradeConfig
from qts.risk.rules.trailing import TrailingStopConfig
from qts.risk.rules.volatility import VolatilityConfig


@dataclass(frozen=True, slots=True)
class MicroRiskConfig:
    """``price_stale_ms``: FS105 when a held symbol's last tick is older (per symbol).
    ``sync_stale_ms``: FS101 when neither a position update nor a heartbeat came for longer.
    ``exit_done_grace_ms``: how long a pending exit the order manager called done keeps blocking
    a second exit while its fill travels to the shadow.
    ``suspend_after_errors``: consecutive failed cycles before the loop asks ETEDA to stop
    (FS100 action "suspend ETEDA") for ``eteda_suspend_ms``.
    ``emit_adjustments``: also send TRAILING_STOP_ADJUST actions to the sink. Off by default, as
    in the spec ("the dispatcher just stores it in the shadow"): a ratchet is not an order, and
    with many positions it moves dozens of stops per cycle — enough to fill a 100-place P0 queue.
    """

    volatility: VolatilityConfig = field(default_factory=VolatilityConfig)
    mae: MAEConfig = field(default_factory=MAEConfig)
    time_in_trade: TimeInTradeConfig = field(default_factory=TimeInTradeConfig)
    trailing: TrailingStopConfig = field(default_factory=TrailingStopConfig)
    price_stale_ms: int = 500
    sync_stale_ms: int | None = 1_000
    exit_done_grace_ms: int = 1_000
    suspend_after_errors: int = 3
    eteda_suspend_ms: int = 60_000
    emit_adjustments: bool = False

    def __post_init__(self) -> None:
        for name in ("price_stale_ms", "exit_done_grace_ms", "eteda_suspend_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"micro_risk.{name}: cannot be negative")
        if self.sync_stale_ms is not None and self.sync_stale_ms <= 0:
            raise ValueError("micro_risk.sync_stale_ms: must be positive or None")
        if self.suspend_after_errors < 1:
            raise ValueError("micro_risk.suspend_after_errors: must be at least 1")
