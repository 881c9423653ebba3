"""Any valid KRX code in the synthetic market: a deterministic made-up series per code.

The local broker fakes (``qts sim serve``) must accept what the real gateways accept: a client
that buys 005930 gets an order number, not "no such symbol". :func:`synthetic_symbol` derives a
symbol's parameters (base price on the tick grid, volatility, beta, volume, market) from a hash
of its code, so the same code always trades the same way for a seed; the eight symbols of
``DEFAULT_UNIVERSE`` keep their hand-made parameters. :class:`SyntheticCatalog` is the set a
fake serves, growing as clients name new codes, and :func:`catalog_frames` replays it: a code
added mid-day joins the frames from the next minute on (its series is a pure function of the
seed, the day, its previous close and the market-wide day, so adding it changes no other
symbol's bars).

A code is valid when it has six characters, digits or upper-case letters, the first a digit
(``005930``, and the alphanumeric codes KRX issues since 2024 such as ``0126Z0``).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from qts.feeds.bars import to_epoch
from qts.feeds.replay import FrameTable
from qts.feeds.synthetic import DEFAULT_UNIVERSE, MarketState, SyntheticMarket, SyntheticSymbol
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.tick_size import round_nearest
from qts.model.frame import BarFrame
from qts.model.instrument import Market

KRX_CODE = re.compile(r"^[0-9][0-9A-Z]{5}$")
_PRICE_LEVELS = (1_500, 4_000, 9_000, 18_000, 42_000, 73_000, 150_000, 320_000)


def is_krx_code(code: str) -> bool:
    """``code`` is a syntactically valid 6-character KRX short code."""
    return bool(KRX_CODE.match(code))


def synthetic_symbol(code: str) -> SyntheticSymbol:
    """The made-up symbol the synthetic market trades under ``code`` (deterministic)."""
    for sym in DEFAULT_UNIVERSE:
        if sym.symbol == code:
            return sym
    if not is_krx_code(code):
        raise ValueError(f"not a KRX code: {code!r}")
    h = hashlib.sha256(code.encode()).digest()
    level = _PRICE_LEVELS[h[0] % len(_PRICE_LEVELS)]
    base = round_nearest(int(level * (0.8 + 0.4 * h[1] / 255)), False)
    return SyntheticSymbol(
        code,
        f"Synthetic {code}",
        base,
        idio_vol=0.012 + 0.02 * h[2] / 255,
        beta=0.6 + 0.8 * h[3] / 255,
        adv=int(100_000 + 2_000_000 * h[4] / 255),
        jumps_per_day=0.05,
        jump_vol=0.03,
        market=Market.KOSDAQ if h[5] % 3 == 0 else Market.KOSPI,
    )


class SyntheticCatalog:
    """The codes a fake serves: the synthetic universe plus every valid code asked for."""

    def __init__(self, symbols: Iterable[SyntheticSymbol] = DEFAULT_UNIVERSE) -> None:
        self._lock = threading.Lock()
        self._symbols: dict[str, SyntheticSymbol] = {s.symbol: s for s in symbols}
        self.version = 0

    def symbols(self) -> tuple[SyntheticSymbol, ...]:
        with self._lock:
            return tuple(self._symbols.values())

    def __contains__(self, code: object) -> bool:
        with self._lock:
            return code in self._symbols

    def get(self, code: str) -> SyntheticSymbol | None:
        with self._lock:
            return self._symbols.get(code)

    def add(self, code: str) -> SyntheticSymbol | None:
        """The symbol of ``code``, added if new; None when ``code`` is not a valid KRX code."""
        with self._lock:
            sym = self._symbols.get(code)
            if sym is not None:
                return sym
            if not is_krx_code(code):
                return None
            sym = synthetic_symbol(code)
            self._symbols[code] = sym
            self.version += 1
            return sym


class CatalogMarket:
    """The synthetic market over a growing catalog, one day after another."""

    def __init__(self, seed: int, catalog: SyntheticCatalog, calendar: KrxCalendar) -> None:
        self.seed = seed
        self.catalog = catalog
        self.calendar = calendar
        self._closes: dict[str, int] = {}
        self._vol_index: float | None = None
        self._index: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None

    def level_at(self, ts: datetime) -> float | None:
        """The synthetic volatility index (VKOSPI-like) at ``ts`` of the day being replayed."""
        index = self._index
        if index is None or not len(index[0]):
            return None
        i = int(np.searchsorted(index[0], to_epoch(ts), side="right")) - 1
        return float(index[1][max(i, 0)])

    def frames(self, d: date) -> Iterator[BarFrame]:
        """Minute frames of trading day ``d`` (after the previous call's day); a code added
        while they are consumed joins from the next frame on."""
        emitted = None
        while True:
            version = self.catalog.version
            market = SyntheticMarket(self.seed, symbols=self.catalog.symbols(),
                                     sessions=self.calendar)  # fmt: skip
            start = market.start_state()
            vol = self._vol_index if self._vol_index is not None else start.vol_index
            out = market.day(d, MarketState({**start.closes, **self._closes}, vol))
            self._index = (out.vol_index.ts, out.vol_index.value)
            table = FrameTable(list(out.bars.values()), last_end=self.calendar.session(d).close)
            grew = False
            for frame in table.frames():
                if emitted is not None and frame.start < emitted:
                    continue
                yield frame
                emitted = frame.end
                if self.catalog.version != version:
                    grew = True
                    break
            if not grew:
                break
        self._closes = dict(out.end_state.closes)
        self._vol_index = out.end_state.vol_index


def catalog_frames(
    seed: int, catalog: SyntheticCatalog, days: list[date], calendar: KrxCalendar
) -> Iterator[BarFrame]:
    """Minute frames of ``days`` over the catalog as it grows (each day from the last's end)."""
    market = CatalogMarket(seed, catalog, calendar)
    for d in days:
        yield from market.frames(d)


__all__ = [
    "KRX_CODE",
    "CatalogMarket",
    "SyntheticCatalog",
    "catalog_frames",
    "is_krx_code",
    "synthetic_symbol",
]
