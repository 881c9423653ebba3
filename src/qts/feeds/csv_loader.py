"""Load OHLCV bars from CSV files into ``BarSeries``, refusing anything KRX could not have printed.

A file needs a header naming date, open, high, low, close and volume (any case, any order; other
columns are ignored). Dates are ``YYYY-MM-DD`` (daily: stamped 09:00 KST) or
``YYYY-MM-DD HH:MM[:SS]`` (intraday, KST wall clock; ``T`` also separates); a file is one or the
other. Prices must be whole KRW on the tick grid (``12345`` or ``12345.0``), unless
``price_scale`` is given: then every price is multiplied by it and rounded to the nearest tick,
which is how foreign real series (index points, dollars) are brought under KRX rules. Volumes are
never scaled and must be whole and non-negative.

Every refusal is a ``DataError`` whose source is ``path:line`` and whose field is the column.
The first unparsable cell is reported; failing that, the first row breaking a market rule.

Speed matters (a backtest loads many files): cells are checked with one regular expression per
column and converted by numpy; per-cell Python work happens only to explain a failure.

The cells are read by :mod:`qts.feeds.cells` and checked, chunk by chunk, by
:class:`qts.feeds.series_builder.SeriesBuilder` (which the Parquet reader feeds too); level files
are read by :mod:`qts.feeds.level_loader`. Their names are importable from here as before.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from qts.core.errors import DataError
from qts.feeds.bars import BarSeries
from qts.feeds.cells import KST_OFFSET_S as KST_OFFSET_S
from qts.feeds.csv_rows import _columns as _columns
from qts.feeds.csv_rows import _header_index
from qts.feeds.csv_rows import _read_rows as _read_rows
from qts.feeds.level_loader import load_level_csv as load_level_csv
from qts.feeds.series_builder import COLUMNS as COLUMNS
from qts.feeds.series_builder import NOT_A_DATE as NOT_A_DATE
from qts.feeds.series_builder import PRICES as PRICES
from qts.feeds.series_builder import REQUIRED as REQUIRED
from qts.feeds.series_builder import SeriesBuilder as SeriesBuilder
from qts.feeds.series_builder import series_from_cells as series_from_cells
from qts.feeds.symbols import DataSpecs, FileSpec
from qts.model.instrument import SYMBOL_RULE, Market, is_symbol

CHUNK_BYTES = 1 << 20
"""Bytes of a plain file converted at a time (about 23,000 minute bars)."""
CHUNK_ROWS = 50_000
"""Rows of a quoted (or otherwise not plain) file converted at a time."""
Progress = Callable[[int], None]
"""Told the bytes of the file read so far."""


class _NotPlain(Exception):
    """The plain reader met a quote, a lone CR, a blank line or a ragged row: the csv module
    must read the file (and explain what is wrong with it)."""


def _byte_chunks(path: Path) -> Iterator[tuple[bytes, int]]:
    """The file in pieces ending at a newline (the last may not), with the bytes read so far."""
    with path.open("rb") as f:
        tail = b""
        done = 0
        while True:
            block = f.read(CHUNK_BYTES)
            done += len(block)
            if not block:
                if tail:
                    yield tail, done
                return
            cut = block.rfind(b"\n")
            if cut < 0:
                tail += block
                continue
            yield tail + block[: cut + 1], done
            tail = block[cut + 1 :]


def _load_plain(path: Path, builder: SeriesBuilder, progress: Progress | None) -> None:
    """Feed ``builder`` a plain file (no quotes, no blank line, every row as wide as the header;
    CRLF is fine) split in C: one split per chunk and a strided slice per column."""
    index: dict[str, int] | None = None
    width = 0
    line = 1  # the header's
    try:
        for raw, done in _byte_chunks(path):
            if b'"' in raw:
                raise _NotPlain
            if b"\r" in raw:
                if raw.count(b"\r") != raw.count(b"\r\n"):
                    raise _NotPlain
                raw = raw.replace(b"\r\n", b"\n")
            try:
                text = raw.decode("utf-8-sig" if index is None else "utf-8")
            except UnicodeDecodeError:
                raise _NotPlain from None
            physical = text.split("\n")
            if physical[-1] == "":
                physical.pop()
            if "" in physical:
                raise _NotPlain
            if index is None:
                if len(physical) < 2:
                    raise _NotPlain
                header = physical.pop(0).split(",")
                width = len(header)
                try:
                    index = _header_index(path, header, REQUIRED)
                except DataError:
                    raise _NotPlain from None  # refused by the csv reader, after any CSV error
                rows_per_byte = len(physical) / len(raw)
                builder.reserve(int(_size(path) * rows_per_byte * 1.02) + 16)
            cells = ",".join(physical).split(",")
            if len(cells) != width * len(physical):
                raise _NotPlain
            builder.add(
                {w: cells[j::width] for w, j in index.items()},
                range(line + 1, line + 1 + len(physical)),
            )
            line += len(physical)
            del cells, physical, text, raw
            if progress is not None:
                progress(done)
    except OSError:
        raise _NotPlain from None
    if index is None:
        raise _NotPlain


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 before reading any row (as reading it whole would)."""
    source = str(path)
    try:
        line = 1
        for raw, _done in _byte_chunks(path):
            try:
                raw.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                line += raw.count(b"\n", 0, exc.start)
                reason = f"not UTF-8 text ({exc.reason})"
                raise DataError(f"{source}:{line}", None, reason) from None
            line += raw.count(b"\n")
    except OSError as exc:
        raise DataError(source, None, f"cannot read the file ({exc.strerror})") from None


def _load_with_csv(path: Path, builder: SeriesBuilder, progress: Progress | None) -> None:
    """Feed ``builder`` any CSV file through the csv module, a chunk of rows at a time. Every
    row is read even after a problem: a broken row further down is reported first, as it is
    when the whole file is read before the cells are checked."""
    _check_utf8(path)
    source = str(path)
    header: list[str] | None = None
    index: dict[str, int] | None = None
    later: DataError | None = None  # the header's or a row's refusal, after any CSV error
    rows: list[list[str]] = []
    lines = array("q")
    seen = 0

    def flush() -> None:
        assert index is not None
        builder.add({w: [r[j] for r in rows] for w, j in index.items()}, lines[:])
        rows.clear()
        del lines[:]

    with path.open("rb") as binary, io.TextIOWrapper(binary, "utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            prev = reader.line_num
            for row in reader:
                if row:
                    seen += 1
                    if later is None:
                        if index is None:
                            try:
                                index = _header_index(path, header or [], REQUIRED)
                            except DataError as exc:
                                later = exc
                        if index is not None and len(row) != len(header or []):
                            later = DataError(
                                f"{source}:{prev + 1}",
                                None,
                                f"{len(row)} fields, the header has {len(header or [])}",
                            )
                        if later is None:
                            rows.append(row)
                            lines.append(prev + 1)
                            if len(rows) >= CHUNK_ROWS:
                                flush()
                                if progress is not None:
                                    progress(binary.tell())
                prev = reader.line_num
        except csv.Error as exc:
            raise DataError(f"{source}:{reader.line_num + 1}", None, f"bad CSV ({exc})") from None
    if header is None:
        raise DataError(f"{source}:1", None, "the file is empty")
    if not seen:
        raise DataError(f"{source}:2", None, "no data rows after the header")
    if later is not None:
        raise later
    if rows:
        flush()


def _date_cell(path: Path, row: int) -> str:
    """The date cell of data row ``row`` (0 = the first), read again from the file."""
    with path.open("rb") as binary, io.TextIOWrapper(binary, "utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        j = header.index("date")
        k = 0
        for cells in reader:
            if cells:
                if k == row:
                    return cells[j]
                k += 1
    raise IndexError(row)


def load_csv(
    path: Path,
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    progress: Progress | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """One symbol's bars from ``path``; the symbol is the file stem unless given.

    The file is read in chunks into int64 columns (a few times the file's size at the peak);
    ``progress`` hears the bytes read so far.
    """
    builder = SeriesBuilder(path, price_scale, etf, market)
    try:
        _load_plain(path, builder, progress)
    except _NotPlain:
        builder = SeriesBuilder(path, price_scale, etf, market)
        _load_with_csv(path, builder, progress)
    return builder.finish(
        symbol if symbol is not None else path.stem, lambda row: _date_cell(path, row)
    )


DATA_SUFFIXES = (".csv", ".parquet")


def data_files(paths: Sequence[Path]) -> list[Path]:
    """Expand folders to their CSV and Parquet files (sorted by name, not recursive); keep files."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.suffix.lower() in DATA_SUFFIXES
            )
            if not found:
                raise DataError(str(p), None, "the folder holds no *.csv or *.parquet files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(str(p), None, "no such file or folder")
    return out


def load_file(
    path: Path,
    price_scale: float | None = None,
    etf: bool = False,
    symbol: str | None = None,
    progress: Progress | None = None,
    market: Market = Market.KOSPI,
) -> BarSeries:
    """A ``.parquet`` file through the Parquet reader, anything else as CSV."""
    if path.suffix.lower() == ".parquet":
        from qts.feeds.parquet_loader import load_parquet

        return load_parquet(path, price_scale, etf, symbol, progress, market)
    return load_csv(path, price_scale, etf, symbol, progress, market)


def load_paths(
    paths: Sequence[Path],
    price_scale: float | None = None,
    etf: bool | Collection[str] = False,
    progress: Callable[[int, int], None] | None = None,
    specs: DataSpecs | None = None,
) -> list[BarSeries]:
    """Every file named or inside a named folder, in order; symbols must be unique.

    ``specs`` says each file's market, ETF flag, price scale, name and symbol (see
    ``qts.feeds.symbols``); without it every file is a KOSPI stock scaled by ``price_scale``, and
    ``etf`` is True for all files or the collection of symbols (file stems) that are ETFs.
    ``progress`` is told the bytes read so far out of all the files' bytes.
    """
    files = data_files(paths)
    if specs is None:
        stems = {f.stem for f in files}
        etfs = stems if etf is True else set() if etf is False else stems & set(etf)
        specs = DataSpecs(
            FileSpec(price_scale=price_scale), markets=dict.fromkeys(etfs, (Market.KOSPI, True))
        )
    specs.check_keys(files)
    for f in files:  # before any file is read: a bad name must not cost the load
        check_symbol(f, specs.for_file(f))
    sizes = [_size(f) for f in files]
    total = sum(sizes)
    seen: dict[str, Path] = {}
    out: list[BarSeries] = []
    before = 0
    for f, size in zip(files, sizes, strict=True):
        spec = specs.for_file(f)
        symbol = spec.symbol or f.stem
        if symbol in seen:
            raise DataError(str(f), None, f"symbol {symbol} is also loaded from {seen[symbol]}")
        seen[symbol] = f
        within = None if progress is None else _offset(progress, before, total)
        series = load_file(f, spec.price_scale, spec.etf, symbol, within, spec.market)
        out.append(series.named(spec.name) if spec.name else series)
        before += size
        if progress is not None:
            progress(before, total)
    return out


def check_symbol(f: Path, spec: FileSpec) -> None:
    """The file's symbol (its stem, or the symbols file's ``symbol``) must be a valid symbol."""
    if spec.symbol is not None:
        if not is_symbol(spec.symbol):  # load_symbols refuses these; a hand-made spec may not
            raise DataError(str(f), "symbol", f"{spec.symbol!r}: use {SYMBOL_RULE}")
        return
    if is_symbol(f.stem):
        return
    raise DataError(
        str(f),
        None,
        f"the file name is the symbol, and {f.stem!r} is not one: a symbol uses {SYMBOL_RULE}. "
        f"Rename the file (e.g. 005930{f.suffix}), or give --symbols symbols.csv with the "
        f"columns file,symbol,market and a row {f.name},005930,KOSPI",
    )


def _offset(progress: Callable[[int, int], None], before: int, total: int) -> Progress:
    """One file's bytes read, told as the bytes read of all the files."""
    return lambda done: progress(before + done, total)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the loader says why it cannot read it
