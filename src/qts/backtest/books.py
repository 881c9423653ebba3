"""The books of ``qts backtest --db PATH``: a new file, which then holds that one run.

A backtest with ``--db`` keeps its books in ``PATH`` and the simulated venue's journal in
``PATH.venue``. What it was given (strategy and strategy file, parameters, cash, fees, the data
files with their content's SHA-256, the data options, the period, capital pools and index) is
recorded with the run (``RunMeta.config["backtest"]``).

A file that already holds a run is refused before the data is loaded, in one line that names
what the file holds and how this backtest differs. Another run's books would mix two runs (the
old trades under the new provenance, or a venue journal of other symbols), and even the same
run is not resumed: a backtest replays from its first bar, so on books that already hold its
trades the equity curve, the pools and the statistics of the report would be wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qts.backtest.provenance import sha256
from qts.core.errors import InputError
from qts.data.ports import RunMeta
from qts.feeds.csv_loader import data_files

RECORD_KEY = "backtest"


def identity(
    *,
    strategy: str,
    strategy_file: Path | None,
    params: Mapping[str, Any],
    cash: int,
    fees: str,
    data: Sequence[Path],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The record of a backtest run: what it was given, and under ``key`` what decides its books
    (file contents by SHA-256, not their paths), to say how another backtest differs."""
    files = data_files(list(data))
    key = {
        "strategy": strategy,
        "strategy_file": sha256(strategy_file) if strategy_file is not None else None,
        "params": dict(params),
        "cash": cash,
        "fees": fees,
        "data": [sha256(f) for f in files],
        "options": dict(options),
    }
    text = json.dumps(key, sort_keys=True, default=str)
    return {
        "key": json.loads(text),
        "strategy": strategy,
        "params": dict(params),
        "cash": cash,
        "fees": fees,
        "data": [str(f) for f in files],
        "symbols": [],
    }


def file_sha(path: Path | None) -> str | None:
    return None if path is None else sha256(path)


def check_books(db: Path, record: Mapping[str, Any]) -> None:
    """Refuse ``db`` unless it is new or empty (no run in it, no venue journal beside it).
    Nothing is written. ``db`` is a file path (the command line checked it is no URL and no
    folder)."""
    from qts.data.sqlite import NotBooksError, SqliteStore

    meta: RunMeta | None = None
    if db.exists() and db.stat().st_size > 0:
        try:
            store = SqliteStore(db, access="read")
        except NotBooksError as exc:
            if not exc.reason.startswith("is an empty database"):
                raise InputError(
                    "--db", None, f"{db} {exc.reason}; give a new file for the backtest's books"
                ) from None
        else:
            try:
                meta = store.run_meta()
            finally:
                store.close()
    if meta is None:
        venue = Path(f"{db}.venue")
        if venue.exists() and venue.stat().st_size > 0:
            raise InputError(
                "--db",
                None,
                f"{venue} is the venue journal of an earlier run on {db}; delete it or give a "
                "new file",
            )
        return
    stored = meta.config.get(RECORD_KEY)
    differs = ""
    if meta.mode == "backtest" and isinstance(stored, dict):
        old, new = stored.get("key") or {}, record["key"]
        names = [k for k in new if old.get(k) != new[k]]
        differs = (
            f"; this one differs in {', '.join(names)}"
            if names
            else "; the same backtest, which is not resumed (it replays from its first bar)"
        )
    raise InputError(
        "--db",
        None,
        f"{db} holds {describe(meta)}{differs}; give a new file or delete it (and {db}.venue)",
    )


def describe(meta: RunMeta) -> str:
    """What run a store holds, in a few words."""
    started = meta.started_at.date().isoformat()
    stored = meta.config.get(RECORD_KEY)
    if meta.mode != "backtest":
        return f"a {meta.mode} run ({meta.run_id}, started {started})"
    if not isinstance(stored, dict):
        return (
            f"a backtest run ({meta.run_id}, cash {meta.initial_cash:,}, first bar {started}; "
            "its options were not recorded)"
        )
    params = " ".join(f"{k}={v}" for k, v in dict(stored.get("params") or {}).items())
    symbols = [str(s) for s in stored.get("symbols") or []]
    listed = ", ".join(symbols[:5]) + (f" and {len(symbols) - 5} more" if len(symbols) > 5 else "")
    return (
        f"a backtest run ({stored.get('strategy')}"
        + (f" {params}" if params else "")
        + (f" on {listed}" if listed else "")
        + f", cash {meta.initial_cash:,}, fees {stored.get('fees')}, first bar {started})"
    )
