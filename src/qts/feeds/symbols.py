"""What each data file is: its market (KOSPI, KOSDAQ, KONEX or an ETF), price scale and name.

The market decides the dated tick table, the daily limit, the commission rate and the sell tax
(ETFs pay none and trade on a 5 KRW tick); the price scale brings a foreign or float series onto
the KRX grid. Three sources, the more specific winning: a default for every file (``--market
KOSDAQ``, ``--price-scale 100``), a symbols file (``--symbols symbols.csv``), and per-file entries
(``--market 069500=ETF``, ``--price-scale spx=100``).

A symbols file is CSV with a header: ``file`` or ``symbol`` (the data file's name or stem; with
both, ``file`` matches and ``symbol`` renames the series), ``market`` (KOSPI, KOSDAQ, KONEX or
ETF), and optionally ``price_scale`` (blank: the default) and ``name``. When one is given every
data file needs a row (a typo must not turn a KOSDAQ file into a KOSPI one); rows for files not
loaded are fine (one file can describe a whole universe). Every refusal names the file and line,
the column and the reason.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from qts.core.errors import DataError, InputError
from qts.model.instrument import SYMBOL_RULE, Market, is_symbol

MARKETS = ("KOSPI", "KOSDAQ", "KONEX", "ETF")
COLUMNS = ("file", "symbol", "market", "price_scale", "name")


@dataclass(frozen=True, slots=True)
class FileSpec:
    """How to read one data file."""

    market: Market = Market.KOSPI
    etf: bool = False
    price_scale: float | None = None
    name: str = ""
    symbol: str | None = None  # None: the file stem

    @property
    def kind(self) -> str:
        return "ETF" if self.etf else self.market.value


def parse_market(text: str) -> tuple[Market, bool]:
    """(market, etf) of KOSPI / KOSDAQ / KONEX / ETF (an ETF is listed on KOSPI); ValueError."""
    value = text.strip().upper()
    if value == "ETF":
        return Market.KOSPI, True
    if value in ("KOSPI", "KOSDAQ", "KONEX"):
        return Market(value), False
    shown = repr(text) if text.strip() else "empty"
    raise ValueError(f"{shown} is not one of {', '.join(MARKETS)}")


def parse_scale(text: str) -> float:
    """A positive finite number; ValueError otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        shown = repr(text) if text.strip() else "empty"
        raise ValueError(f"{shown} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text.strip()} is not a positive number")
    return value


@dataclass(frozen=True, slots=True)
class SymbolsFile:
    path: Path
    rows: Mapping[str, FileSpec]  # key: a file name or stem
    lines: Mapping[str, int]


def load_symbols(path: Path) -> SymbolsFile:
    """Read and check a symbols file (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(str(path), None, "is not UTF-8 text") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    if not header or header == [""]:
        raise DataError(
            str(path), None, "is empty; expected a header file,market[,price_scale,name]"
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise DataError(f"{path}:1", unknown[0], f"unknown column (columns: {', '.join(COLUMNS)})")
    dupes = [h for h in COLUMNS if header.count(h) > 1]
    if dupes:
        raise DataError(f"{path}:1", dupes[0], "appears twice in the header")
    key = "file" if "file" in header else "symbol" if "symbol" in header else None
    if key is None:
        raise DataError(f"{path}:1", "file", "the header needs a file or a symbol column")
    if "market" not in header:
        raise DataError(f"{path}:1", "market", "the header needs a market column")
    col = {h: i for i, h in enumerate(header)}
    rows: dict[str, FileSpec] = {}
    lines: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        where = f"{path}:{line}"
        if len(cells) != len(header):
            raise DataError(where, None, f"has {len(cells)} cells, the header {len(header)}")

        def cell(name: str, cells: list[str] = cells) -> str:
            return cells[col[name]].strip() if name in col else ""

        k = cell(key)
        if not k:
            raise DataError(where, key, "is empty")
        if k in rows:
            raise DataError(where, key, f"{k} is also on line {lines[k]}")
        try:
            market, etf = parse_market(cell("market"))
        except ValueError as exc:
            raise DataError(where, "market", str(exc)) from None
        scale = None
        if cell("price_scale"):
            try:
                scale = parse_scale(cell("price_scale"))
            except ValueError as exc:
                raise DataError(where, "price_scale", str(exc)) from None
        symbol = cell("symbol") if key == "file" and cell("symbol") else None
        if symbol is not None and not is_symbol(symbol):
            raise DataError(where, "symbol", f"{symbol!r}: use {SYMBOL_RULE}")
        rows[k] = FileSpec(market, etf, scale, cell("name"), symbol)
        lines[k] = line
    if not rows:
        raise DataError(str(path), None, "has a header but no rows")
    return SymbolsFile(path, rows, lines)


@dataclass(frozen=True, slots=True)
class DataSpecs:
    """Defaults, an optional symbols file and per-file overrides; ``for_file`` resolves them."""

    default: FileSpec = FileSpec()
    symbols: SymbolsFile | None = None
    markets: Mapping[str, tuple[Market, bool]] = field(default_factory=dict)  # key: name or stem
    scales: Mapping[str, float] = field(default_factory=dict)

    def _row(self, f: Path) -> FileSpec | None:
        if self.symbols is None:
            return None
        rows = self.symbols.rows
        return rows.get(f.name) or rows.get(f.stem)

    def for_file(self, f: Path) -> FileSpec:
        spec = self.default
        if self.symbols is not None:
            row = self._row(f)
            if row is None:
                raise DataError(str(f), None, f"has no row in the symbols file {self.symbols.path}")
            spec = replace(
                row, price_scale=row.price_scale if row.price_scale else spec.price_scale
            )
        key = f.name if f.name in self.markets else f.stem
        if key in self.markets:
            market, etf = self.markets[key]
            spec = replace(spec, market=market, etf=etf)
        key = f.name if f.name in self.scales else f.stem
        if key in self.scales:
            spec = replace(spec, price_scale=self.scales[key])
        return spec

    def check_keys(self, files: Sequence[Path]) -> None:
        """Per-file options must name a loaded file (a typo would silently change nothing)."""
        known = {f.name for f in files} | {f.stem for f in files}
        for option, keys in (("--market", self.markets), ("--price-scale", self.scales)):
            for k in keys:
                if k not in known:
                    raise InputError(option, k, "names no data file given")


def parse_assignments(values: Sequence[str], option: str) -> tuple[str | None, dict[str, str]]:
    """``VALUE`` (for every file; at most once) and ``FILE=VALUE`` entries of one option."""
    default: str | None = None
    per_file: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep:
            if default is not None:
                raise InputError(option, raw, f"a default was already given ({default})")
            default = raw
            continue
        key = key.strip()
        if not key:
            raise InputError(option, raw, "expected FILE=VALUE (the file's name or stem)")
        if key in per_file:
            raise InputError(option, raw, f"{key} was already given ({per_file[key]})")
        per_file[key] = value
    return default, per_file


def data_specs(
    markets: Sequence[str] = (),
    scales: Sequence[str] = (),
    symbols: Path | None = None,
) -> DataSpecs:
    """The specs the command line describes; refusals name the option and the value."""
    default_market, market_entries = parse_assignments(markets, "--market")
    default_scale, scale_entries = parse_assignments(scales, "--price-scale")
    default = FileSpec()
    try:
        if default_market is not None:
            market, etf = parse_market(default_market)
            default = replace(default, market=market, etf=etf)
        per_market = {k: parse_market(v) for k, v in market_entries.items()}
    except ValueError as exc:
        raise InputError("--market", None, str(exc)) from None
    try:
        if default_scale is not None:
            default = replace(default, price_scale=parse_scale(default_scale))
        per_scale = {k: parse_scale(v) for k, v in scale_entries.items()}
    except ValueError as exc:
        raise InputError("--price-scale", None, str(exc)) from None
    loaded = None
    if symbols is not None:
        if not symbols.is_file():
            raise InputError("--symbols", str(symbols), "no such file")
        loaded = load_symbols(symbols)
    return DataSpecs(default, loaded, per_market, per_scale)
