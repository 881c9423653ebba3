"""What produced a backtest report, so the run can be repeated from its output alone: the data
files with their SHA-256, the strategy and its parameters, qty, cash, fees, price scale and the
QTS version. It goes into ``summary.json`` and, through the summary, onto the report page."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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
) -> dict[str, Any]:
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
    }
