"""Configuration of the capital flow and the operating state (the ``capital`` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from qts.engines.state.profile import OperatingState
from qts.engines.state.rules import TransitionRules


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScalpToSwing(_M):
    min_profit: int = Field(1_000_000, ge=0)
    min_sharpe: float = 1.5
    min_win_rate: float = Field(0.55, ge=0, le=1)
    min_trades_30d: int = Field(50, ge=0)
    max_mdd_30d: float = Field(0.10, gt=0, le=1)
    ratio: float = Field(0.5, gt=0, le=1)


class SwingToPortfolio(_M):
    min_profit: int = Field(5_000_000, ge=0)
    min_sharpe: float = 1.2
    max_recovery_days: float = Field(30, ge=0)
    min_holding_days: float = Field(5, ge=0)
    max_mdd_90d: float = Field(0.15, gt=0, le=1)
    ratio: float = Field(0.3, gt=0, le=1)


class Demotion(_M):
    portfolio_mdd: float = Field(0.10, gt=0, lt=1)
    portfolio_ratio: float = Field(0.20, gt=0, le=1)
    swing_mdd: float = Field(0.15, gt=0, lt=1)
    swing_ratio: float = Field(0.30, gt=0, le=1)
    swing_losses: int = Field(5, ge=1, description="more than this many losing swing trades")
    swing_losses_ratio: float = Field(0.20, gt=0, le=1)
    cooldown_days: float = Field(30, ge=0, description="a rule fires at most once per this")


class MinAmounts(_M):
    scalp: int = Field(1_000_000, ge=0)
    swing: int = Field(2_000_000, ge=0)
    portfolio: int = Field(3_000_000, ge=0)


class CapitalConfig(_M):
    enabled: bool = Field(True, description="pools and operating state govern sizing and entries")
    initial_state: OperatingState = OperatingState.BALANCED
    transitions: TransitionRules = Field(default_factory=TransitionRules)
    max_daily_rebalance_pct: float = Field(0.05, gt=0, le=1)
    min_transfer: PositiveInt = 100_000
    drift_threshold: float = Field(0.10, gt=0, lt=1)
    monthly_rebalance: bool = True
    min_amounts: MinAmounts = Field(default_factory=MinAmounts)
    scalp_to_swing: ScalpToSwing = Field(default_factory=ScalpToSwing)
    swing_to_portfolio: SwingToPortfolio = Field(default_factory=SwingToPortfolio)
    demotion: Demotion = Field(default_factory=Demotion)
    lock_drawdown: float = Field(0.20, gt=0, lt=1, description="pool drawdown that locks (FS082)")
    lock_release_days: float = Field(5, ge=0)
