"""``qts safety``: the safety state of a run, its history, and the operator's recovery approval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qts.core.clock import WallClock
from qts.core.errors import InputError
from qts.data.sqlite import SqliteStore
from qts.data.writer_lock import current_holder
from qts.safety.codes import CATALOGUE
from qts.safety.state import RecoveryRefused, SafetyStatus
from qts.safety.supervisor import REQUEST_KEY, STATE_KEY, from_record, request_recovery

app = typer.Typer(help="Safety state, history and recovery.", no_args_is_help=True)
DbOpt = Annotated[Path, typer.Option(help="The run's SQLite database.")]


def _open(db: Path) -> SqliteStore:
    if not db.exists():
        raise InputError(str(db), None, "no such database")
    return SqliteStore(str(db), writer=False)


@app.command("status")
def status(db: DbOpt) -> None:
    """The current safety state and why."""
    store = _open(db)
    try:
        saved = store.load_state(STATE_KEY)
        request = store.load_state(REQUEST_KEY)
    finally:
        store.close()
    st = SafetyStatus.from_json(saved) if saved else SafetyStatus()
    typer.echo(f"state: {st.state}" + (f" since {st.since.isoformat()}" if st.since else ""))
    typer.echo(f"trading allowed: {'yes' if st.state.trading_allowed else 'no'}")
    if st.last_code:
        meaning = CATALOGUE[st.last_code].meaning if st.last_code in CATALOGUE else ""
        typer.echo(f"last code: {st.last_code} ({meaning}): {st.last_message}")
    holder = current_holder(db)
    typer.echo(f"writer: {holder.describe() if holder else 'none (no run holds the books)'}")
    typer.echo(
        f"fail-safe cycles in a row: {st.fail_cycles}; "
        f"broker failures in a row: {st.broker_failures}"
    )
    if request and request.get("id") != st.applied_request:
        typer.echo(
            f"recovery approved by {request.get('operator')} at {request.get('ts')}: "
            "applied when the run next cycles or starts"
        )


@app.command("history")
def history(db: DbOpt, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """The last safety events, oldest first."""
    store = _open(db)
    try:
        events = [from_record(r) for r in store.load_safety_events(limit)]
    finally:
        store.close()
    if not events:
        typer.echo("no safety events")
    for e in events:
        move = f"{e.state_before}->{e.state_after}" if e.transition else str(e.state_after)
        who = f" [{e.operator}]" if e.operator else ""
        typer.echo(f"{e.ts.isoformat()}  {move:<18} {e.kind:<18} {e.code:<6} {e.message}{who}")


@app.command("approve-recovery")
def approve_recovery(
    db: DbOpt,
    operator: Annotated[str, typer.Option(help="Who approves (recorded).")],
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again (recorded).")],
) -> None:
    """Approve leaving LOCKDOWN. The approval is recorded; the run applies it at its next cycle."""
    store = _open(db)
    try:
        request_id = request_recovery(store, operator, reason, WallClock().now())
    except RecoveryRefused as exc:
        raise InputError("approve-recovery", None, str(exc)) from None
    finally:
        store.close()
    typer.echo(f"recovery approved ({request_id}); the run leaves LOCKDOWN at its next cycle")
