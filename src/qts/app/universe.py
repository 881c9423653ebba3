"""The live run's universe: ``universe.symbols`` (Config_Local, or the strategy sheets' rows of
that key: qts.config.loader), described by the broker.

Any valid 6-character KRX code may be listed. Names, markets and the stock/ETF kind come from
the broker (KIS search-info + inquire-price, Kiwoom ka10001 + ka10100) and are kept in the run's
store under the state key ``instruments``, so a restarted run asks the broker only about codes it
has not seen. Without ``universe.symbols`` the universe is the synthetic market's eight symbols
(what the local fakes serve by default).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from qts.config.models import QtsConfig
from qts.feeds.synthetic import SyntheticMarket
from qts.model.instrument import Instrument, Market, SecurityType

log = logging.getLogger(__name__)

CACHE_KEY = "instruments"


class Describes(Protocol):
    def describe_instrument(self, symbol: str) -> Instrument: ...


class StateStore(Protocol):
    def save_state(self, key: str, value: dict[str, Any]) -> None: ...

    def load_state(self, key: str) -> dict[str, Any] | None: ...


def universe_symbols(config: QtsConfig) -> tuple[list[str], dict[str, Instrument]]:
    """The configured codes (nothing known about them yet), or the synthetic market's codes
    with their made-up instruments (the local fakes' default listing; no broker call)."""
    if config.universe.symbols:
        return list(config.universe.symbols), {}
    synthetic = {i.symbol: i for i in SyntheticMarket(config.run.seed).instruments()}
    return list(synthetic), synthetic


def to_json(instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    return {
        s: {"name": i.name, "market": i.market.value, "type": i.security_type.value}
        for s, i in instruments.items()
    }


def from_json(raw: Mapping[str, Any]) -> dict[str, Instrument]:
    """Cached instruments; an unreadable entry is dropped (the broker is asked again)."""
    out: dict[str, Instrument] = {}
    for symbol, row in raw.items():
        try:
            out[symbol] = Instrument.krx(
                symbol, Market(row["market"]), SecurityType(row["type"]), str(row["name"])
            )
        except (KeyError, TypeError, ValueError):
            log.warning("instrument cache: entry %r unreadable; asking the broker", symbol)
    return out


def resolve(
    symbols: Sequence[str],
    cached: Mapping[str, Instrument] | None = None,
    *,
    venue: Describes,
) -> tuple[dict[str, Instrument], list[str]]:
    """Each symbol's instrument (cache first, else the broker) and the codes asked about."""
    out: dict[str, Instrument] = {}
    asked: list[str] = []
    for symbol in symbols:
        known = (cached or {}).get(symbol)
        if known is None:
            known = venue.describe_instrument(symbol)
            asked.append(symbol)
        out[symbol] = known
    return out, asked


def load_cache(store: StateStore) -> dict[str, Instrument]:
    raw = store.load_state(CACHE_KEY)
    return from_json(raw) if raw else {}


def save_cache(store: StateStore, instruments: Mapping[str, Instrument]) -> None:
    """Merge ``instruments`` into the store's cache."""
    merged = {**load_cache(store), **instruments}
    store.save_state(CACHE_KEY, to_json(merged))


__all__ = ["CACHE_KEY", "from_json", "load_cache", "resolve", "save_cache", "to_json",
           "universe_symbols"]  # fmt: skip
