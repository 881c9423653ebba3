"""Instruments traded on KRX."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Market(StrEnum):
    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"
    KONEX = "KONEX"


class SecurityType(StrEnum):
    STOCK = "STOCK"
    ETF = "ETF"


# fullmatch, not match + "$": "$" also matches before a trailing newline ("005930\n").
_KRX_CODE = re.compile(r"[0-9A-Z]{6}")
# The first character may not be "." or "-", so "." and ".." (path parts) are not symbols.
_ANY_SYMBOL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
SYMBOL_RULE = "ASCII letters, digits, '_', '.' or '-' (at most 64, not starting with '.' or '-')"


def is_symbol(text: str) -> bool:
    """Whether ``text`` may name a custom instrument (a data file's symbol, a tick row's)."""
    return _ANY_SYMBOL.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Instrument:
    """A listed security. ``symbol`` is the KRX short code (6 characters, e.g. 005930).

    Build one with :meth:`krx` (validates the code) or :meth:`custom`: backtests may name
    instruments after their data files, and ``custom`` allows any simple identifier for them.
    """

    symbol: str
    market: Market = Market.KOSPI
    security_type: SecurityType = SecurityType.STOCK
    name: str = ""
    kospi200: bool = False

    @classmethod
    def krx(
        cls,
        symbol: str,
        market: Market = Market.KOSPI,
        security_type: SecurityType = SecurityType.STOCK,
        name: str = "",
        kospi200: bool = False,
    ) -> Instrument:
        if not _KRX_CODE.fullmatch(symbol):
            raise ValueError(f"symbol {symbol!r}: a KRX code has 6 digits or capital letters")
        return cls(symbol, market, security_type, name, kospi200)

    @classmethod
    def custom(
        cls,
        symbol: str,
        market: Market = Market.KOSPI,
        security_type: SecurityType = SecurityType.STOCK,
        name: str = "",
    ) -> Instrument:
        if not is_symbol(symbol):
            raise ValueError(f"symbol {symbol!r}: use {SYMBOL_RULE}")
        return cls(symbol, market, security_type, name)

    @property
    def is_etf(self) -> bool:
        return self.security_type is SecurityType.ETF
