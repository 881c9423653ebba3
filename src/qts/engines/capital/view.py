"""What ETEDA sees of capital and the operating state: one immutable view per cycle."""

from __future__ import annotations

from dataclasses import dataclass

from qts.engines.capital.pool import PoolSnapshot
from qts.engines.state.profile import PROFILES, OperatingState, StateProfile
from qts.model.enums import Track


@dataclass(frozen=True, slots=True)
class CapitalView:
    state: OperatingState
    pools: dict[Track, PoolSnapshot]
    rebalance_pending: bool = False

    @property
    def profile(self) -> StateProfile:
        return PROFILES[self.state]

    def available(self, track: Track) -> int:
        p = self.pools.get(track)
        return max(0, p.available_capital) if p else 0

    def total(self, track: Track) -> int:
        p = self.pools.get(track)
        return p.total_capital if p else 0

    def locked(self, track: Track) -> bool:
        p = self.pools.get(track)
        return p is not None and p.pool_state.value == "LOCKED"

    @property
    def equity(self) -> int:
        return sum(p.total_capital for p in self.pools.values())
