"""``qts capital``: the pools of a run and the history of money moved between them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from qts.cli.state import open_db
from qts.data.capital_journal import (
    CAPITAL_DAY_ROW,
    CAPITAL_KEY,
    CapitalEventRecord,
    journal_for,
    read_capital,
)

app = typer.Typer(help="Capital pools: status and history.", no_args_is_help=True)
DbOpt = Annotated[Path, typer.Option(help="The run's SQLite database.")]


@app.command("status")
def status(db: DbOpt) -> None:
    """The three pools now: total, invested, reserved, available, shares and locks."""
    store = open_db(db)
    try:
        r = read_capital(store, limit=1)
    finally:
        store.close()
    if not r.pools:
        typer.echo("no capital pools recorded (capital flow off, or the run has not cycled)")
        return
    cap = r.capital or {}
    typer.echo(
        f"operating state: {r.current_state}"
        + (f"  volatility index {cap['vol_index']:g}" if cap.get("vol_index") is not None else "")
        + ("  rebalancing pending" if cap.get("rebalance_pending") else "")
    )
    head = (
        f"{'pool':<10}{'total':>16}{'invested':>16}{'reserved':>14}{'available':>16}"
        f"{'share':>8}{'target':>8}  state"
    )
    typer.echo(head)
    total = 0
    for name in ("SCALP", "SWING", "PORTFOLIO"):
        p = r.pools[name]
        total += p["total_capital"]
        lock = f" ({p['lock_reason']})" if p.get("lock_reason") else ""
        typer.echo(
            f"{name:<10}{p['total_capital']:>16,}{p['invested_capital']:>16,}"
            f"{p['reserved_capital']:>14,}{p['available_capital']:>16,}"
            f"{float(p['allocation_pct']):>8.1%}{float(p['target_allocation_pct']):>8.1%}"
            f"  {p['pool_state']}{lock}"
        )
    typer.echo(f"{'total':<10}{total:>16,}")
    if r.transfers:
        t = r.transfers[-1].payload
        typer.echo(
            f"last transfer: {t['ts']} {t['from']}->{t['to']} {t['amount']:,} {t['kind']} "
            f"({t['reason']})"
        )


@app.command("history")
def history(
    db: DbOpt,
    limit: Annotated[int, typer.Option(min=1, help="At most this many lines.")] = 50,
    days: Annotated[bool, typer.Option("--days", help="Daily pool balances instead.")] = False,
) -> None:
    """Transfers and pool locks (or, with --days, the pools at each day's close), oldest first."""
    store = open_db(db)
    last_day = None  # the day shown from the capital document, not the journal
    try:
        journal = journal_for(store)
        if days:
            rows = journal.load_capital_events("pools", limit)
            # the day in progress (or the last day of a run that stopped) is journaled when the
            # next day starts; its row so far is in the capital document
            latest = (store.load_state(CAPITAL_KEY) or {}).get(CAPITAL_DAY_ROW)
            if latest and (not rows or rows[-1].payload["date"] < latest["date"]):
                last_day = latest["date"]
                rows = [*rows, CapitalEventRecord(datetime.now(UTC), "pools", latest)][-limit:]
        else:
            rows = [
                e
                for e in journal.load_capital_events(None, None)
                if e.kind in ("transfer", "lock", "unlock", "resync")
            ][-limit:]
    finally:
        store.close()
    if not rows:
        typer.echo("no capital history")
    for e in rows:
        p = e.payload
        if e.kind == "pools":
            typer.echo(
                f"{p['date']}  {p['state']:<10} scalp {p['scalp']:>15,}  swing {p['swing']:>15,}"
                f"  portfolio {p['portfolio']:>15,}  equity {p['equity']:>15,}"
                + ("  (last cycle)" if p["date"] == last_day else "")
            )
        elif e.kind == "transfer":
            typer.echo(
                f"{p['ts']}  {p['kind']:<10} {p['from']}->{p['to']:<10} {p['amount']:>14,}  "
                f"{p['reason']}"
            )
        else:
            typer.echo(
                f"{e.ts.isoformat()}  {e.kind.upper():<10} {p.get('pool', '')} "
                f"{p.get('code', '')} {p.get('reason', p.get('diff', ''))}"
            )
