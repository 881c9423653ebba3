"""``qts state``: the operating state of a run, its history, and the operator's override."""

from __future__ import annotations

import getpass
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from qts.cli.paths import open_books
from qts.core.clock import WallClock
from qts.core.errors import InputError
from qts.core.time import KST
from qts.data.capital_journal import (
    OVERRIDE_REQUEST_KEY,
    STATE_KEY,
    CapitalEventRecord,
    journal_for,
)
from qts.data.ports import CHECKPOINT_KEY
from qts.data.sqlite import SqliteStore
from qts.engines.state.machine import StateStatus
from qts.engines.state.profile import PROFILES, OperatingState
from qts.engines.state.rules import TransitionRules

app = typer.Typer(help="Operating state: status, history, manual override.", no_args_is_help=True)
DbOpt = Annotated[Path, typer.Option(help="The run's SQLite database.")]


def open_db(db: Path, *, write: bool = False) -> SqliteStore:
    """The run's books: read-only, or read-write for a command that records something; a file
    that is not QTS books is refused either way (never created nor migrated)."""
    return open_books(db, write=write)


@app.command("status")
def status(db: DbOpt) -> None:
    """The current operating state, why, and what it allows."""
    store = open_db(db)
    try:
        saved = store.load_state(STATE_KEY)
        request = store.load_state(OVERRIDE_REQUEST_KEY)
    finally:
        store.close()
    if not saved:
        typer.echo("no operating state recorded (capital flow off, or the run has not cycled)")
        return
    st = StateStatus.from_json(saved)
    p = PROFILES[st.state]
    typer.echo(f"state: {st.state} since {st.since.isoformat()} ({st.reason})")
    typer.echo(
        f"allows: new entries {'yes' if p.new_entries else 'no'}, entry threshold "
        f"{p.entry_threshold}, max positions {p.max_positions}, max daily trades "
        f"{p.max_daily_trades}, risk multiplier {p.risk_multiplier}"
    )
    targets = ", ".join(f"{t} {v:.1%}" for t, v in p.targets.items())
    typer.echo(f"pool targets: {targets}")
    if st.override:
        o = st.override
        typer.echo(
            f"manual override by {o.operator} until {o.until.isoformat()} ({o.reason}); "
            f"then back to {o.revert_to}"
        )
    if st.pending:
        typer.echo(f"pending: {st.pending} ({st.confirmations} confirmation(s))")
    if st.preserved:
        typer.echo(f"preserved during LOCKDOWN: {st.preserved}")
    if request and request.get("id") != st.applied_request:
        typer.echo(
            f"override to {request.get('state')} requested by {request.get('operator')}: "
            "applied when the run next cycles"
        )


@app.command("history")
def history(db: DbOpt, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """The last operating-state transitions, oldest first."""
    store = open_db(db)
    try:
        rows = journal_for(store).load_capital_events("transition", limit)
    finally:
        store.close()
    if not rows:
        typer.echo("no operating-state transitions")
    for r in rows:
        t = r.payload
        who = f" [{t['operator']}]" if t.get("operator") else ""
        move = f"{t['from']}->{t['to']}"
        typer.echo(f"{t['ts']}  {move:<22} {t['kind']:<16} {t['reason']}{who}")


@app.command("set")
def set_state(
    state: Annotated[OperatingState, typer.Argument(help="AGGRESSIVE, BALANCED or DEFENSIVE.")],
    db: DbOpt,
    until: Annotated[
        datetime,
        typer.Option(
            formats=[
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d",
                "%Y-%m-%dT%H:%M%z",
                "%Y-%m-%dT%H:%M:%S%z",
            ],
            help="When the override ends (KST unless an offset is given); at most 7 days ahead.",
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
    operator: Annotated[
        str | None, typer.Option(help="Who sets it (recorded); default: the login name.")
    ] = None,
) -> None:
    """Override the operating state until a time. Recorded; the run applies it at its next cycle."""
    if not reason.strip():
        raise InputError("--reason", reason, "an override needs a reason")
    now = WallClock().now()
    end = until if until.tzinfo else until.replace(tzinfo=KST)
    limit = TransitionRules().max_override_days
    who = operator or getpass.getuser()
    store = open_db(db, write=True)
    try:
        # a paper run on a simulated clock lives on its own time: measure against its last cycle
        checkpoint = store.load_state(CHECKPOINT_KEY)
        ref = datetime.fromisoformat(checkpoint["ts"]) if checkpoint else now
        clock = f" (the run's clock: its last cycle was at {ref.isoformat()})" if checkpoint else ""
        if end <= ref:
            raise InputError("--until", until.isoformat(), "is not in the future" + clock)
        if end > ref + timedelta(days=limit):
            raise InputError(
                "--until", until.isoformat(), f"is more than {limit:g} days ahead" + clock
            )
        request_id = uuid.uuid4().hex
        doc = {
            "id": request_id,
            "state": state.value,
            "until": end.isoformat(),
            "reason": reason,
            "operator": who,
            "ts": now.isoformat(),
        }
        with store.transaction():
            store.save_state(OVERRIDE_REQUEST_KEY, doc)
            journal_for(store).record_capital_events(
                [CapitalEventRecord(now, "override_requested", doc)]
            )
    finally:
        store.close()
    typer.echo(
        f"override to {state} until {end.isoformat()} recorded ({request_id}); "
        "the run applies it at its next cycle"
    )
