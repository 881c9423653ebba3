"""The options ``qts backtest`` and ``qts optimize`` share: what each data file is, the period
traded, the volatility index and the pools."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from qts.backtest.provenance import sha256
from qts.core.errors import InputError
from qts.core.time import at
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

IndexOpt = Annotated[
    Path | None,
    typer.Option(help="Volatility index for the operating state: CSV of date and a value."),
]
StartOpt = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First bar date to trade.")
]
EndOpt = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last bar date to trade.")
]
NoCapitalOpt = Annotated[
    bool, typer.Option("--no-capital", help="Size from the whole account, no pools.")
]


def cut_period(
    series: Sequence[BarSeries], start: datetime | None, end: datetime | None
) -> list[BarSeries]:
    """The bars from ``start`` to ``end`` (days, both included) of every series that has any."""
    if start is None and end is None:
        return list(series)
    lo = at(start.date() if start else date(1900, 1, 1), time.min)
    hi = at(end.date() + timedelta(days=1) if end else date(2200, 1, 1), time.min)
    cut = [s.between(lo, hi) for s in series]
    cut = [s for s in cut if len(s)]
    if not cut:
        raise InputError("--start/--end", None, "no bars in that period")
    return cut


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
