"""The options of ``qts backtest`` and ``qts optimize`` that say what each data file is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from qts.backtest.provenance import sha256
from qts.feeds.bars import BarSeries
from qts.feeds.csv_loader import data_files
from qts.feeds.symbols import DataSpecs

MarketOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--market",
        help="KOSPI|KOSDAQ|KONEX|ETF for every file, or FILE=MARKET for one (repeatable); "
        "decides the dated tick table, limits and tax. Default KOSPI.",
    ),
]
PriceScaleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--price-scale",
        help="K: multiply float prices by K and round to the KRX tick of each bar's date; "
        "FILE=K for one file (repeatable).",
    ),
]
SymbolsOpt = Annotated[
    Path | None,
    typer.Option(
        "--symbols",
        help="CSV with file (or symbol), market, [price_scale], [name]: one row per data file.",
    ),
]


def files_record(
    paths: Sequence[Path], series: Sequence[BarSeries], specs: DataSpecs
) -> dict[str, Any]:
    """For the report's provenance: each file's symbol, market and scale; the symbols file."""
    files = data_files(list(paths))
    out: dict[str, Any] = {
        "files": [
            {
                "path": str(f),
                "symbol": s.symbol,
                "market": "ETF" if s.etf else s.market.value,
                "price_scale": specs.for_file(f).price_scale,
                "name": s.name,
            }
            for f, s in zip(files, series, strict=True)
        ]
    }
    if specs.symbols is not None:
        out["symbols_file"] = {
            "path": str(specs.symbols.path),
            "sha256": sha256(specs.symbols.path),
        }
    return out
