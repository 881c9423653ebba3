"""What produced a backtest report, so the run can be repeated from its output alone: the data
files with their SHA-256, the strategy and its parameters, qty, cash, fees, price scale, the
period, the volatility index file, whether the pools were on, and the QTS version. It goes into
``summary.json`` and, through the summary, onto the report page."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import qts
from qts.feeds.csv_loader import data_files


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(
    paths: Sequence[Path],
    *,
    strategy: str,
    strategy_file: Path | None = None,
    params: dict[str, Any],
    qty: int | None,
    cash: int,
    fees: str,
    price_scale: float | None,
    start: date | None = None,
    end: date | None = None,
    index: Path | None = None,
    capital: bool = True,
) -> dict[str, Any]:
    """``start``/``end``: the period traded (None: the data's own); ``index``: the volatility
    index file; ``capital``: the pools on (``--no-capital`` turns them off)."""
    return {
        "qts_version": qts.__version__,
        "data": [{"path": str(p), "sha256": sha256(p)} for p in data_files(list(paths))],
        "strategy": strategy,
        **(
            {"strategy_file": {"path": str(strategy_file), "sha256": sha256(strategy_file)}}
            if strategy_file is not None
            else {}
        ),
        "params": dict(params),
        "qty": qty,
        "cash": cash,
        "fees": fees,
        "price_scale": price_scale,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "index": {"path": str(index), "sha256": sha256(index)} if index is not None else None,
        "capital": capital,
    }
