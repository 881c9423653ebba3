"""``qts safety``: the safety state of a run, its history, and the operator's recovery approval.

The books are the run's SQLite file (``--db``), a live run's own SQLite books (``--broker`` and
``--account``, as given to ``qts run``: the file it keeps for that account by default,
``var/live-<broker>-<account>-<hash>.sqlite``, found from the same folder and environment), or,
for a run that keeps them in PostgreSQL, their schema (``--dsn`` and ``--schema``). Every command
opens them as a reader: it never takes the writer lock, so it works while the run writes.
``status`` and ``history`` open a SQLite file read-only; ``approve-recovery`` records its approval
but, like them, refuses a file that is not QTS books instead of creating or migrating one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from qts.cli.paths import open_books
from qts.core.clock import WallClock
from qts.core.errors import InputError
from qts.data.ports import TradingStore
from qts.data.writer_lock import Holder, current_holder
from qts.safety.codes import CATALOGUE
from qts.safety.state import RecoveryRefused, SafetyStatus
from qts.safety.supervisor import REQUEST_KEY, STATE_KEY, from_record, request_recovery

app = typer.Typer(help="Safety state, history and recovery.", no_args_is_help=True)
DbOpt = Annotated[Path | None, typer.Option(help="The run's SQLite database.")]
DsnOpt = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="Books in PostgreSQL: the connection string, e.g. "
        "postgresql://postgres@127.0.0.1:5432/qts (instead of --db).",
    ),
]
SchemaOpt = Annotated[
    str | None, typer.Option("--schema", help="With --dsn: the books' schema (default qts).")
]
BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="kis / kiwoom: the books `qts run --broker ... --account ...` keeps by default for "
        "the account of this environment (var/live-<broker>-<account>-<hash>.sqlite).",
    ),
]
AccountOpt = Annotated[
    str | None, typer.Option("--account", help="With --broker: paper (default) or real.")
]


def live_run_db(broker: str | None, account: str | None) -> Path | None:
    """The default SQLite books of ``qts run --broker B --account A`` run from this folder with
    this environment (the account's hash names the file), or None without ``--broker``."""
    from qts.app.live_books import ACCOUNTS, VENUES, default_books_file, venue_account_id

    if broker is None:
        if account is not None:
            raise InputError("--account", account, "only with --broker (a live run's books)")
        return None
    if broker not in VENUES:
        raise InputError("--broker", broker, f"expected one of {', '.join(VENUES)}")
    account = account or "paper"
    if account not in ACCOUNTS:
        raise InputError("--account", account, "expected paper or real")
    path = default_books_file(broker, account, venue_account_id(broker, account, os.environ))
    if not path.exists():
        raise InputError(
            "--broker",
            broker,
            f"no books of this {account} account in {path.parent}/ (run from the folder "
            f"`qts run --broker {broker} --account {account}` runs in, or give --db)",
        )
    return path


class Books:
    """The books a command reads, and who writes them now."""

    def __init__(
        self,
        db: Path | None,
        dsn: str | None,
        schema: str | None,
        broker: str | None = None,
        account: str | None = None,
        *,
        write: bool = False,
    ) -> None:
        if db is not None and dsn is not None:
            raise InputError("--dsn", dsn, "give --db (SQLite books) or --dsn, not both")
        if broker is not None and (db is not None or dsn is not None):
            raise InputError(
                "--broker", broker, "give --broker (a live run's own books) or --db/--dsn, not both"
            )
        live = live_run_db(broker, account)
        if live is not None:
            db = live
        if schema is not None and dsn is None:
            raise InputError("--schema", schema, "only with --dsn (books in PostgreSQL)")
        self.db = db
        self.store: TradingStore
        if dsn is not None:
            from qts.data.postgres import PostgresStore

            self.store = PostgresStore(
                dsn, schema=schema or "qts", migrate=False, min_size=1, max_size=1
            )
            return
        if db is None:
            raise InputError(
                "--db",
                None,
                "give the run's --db file, --broker (and --account) for a live run's own books, "
                "or --dsn (and --schema) for PostgreSQL",
            )
        self.store = open_books(db, write=write)

    def writer(self) -> Holder | None:
        if self.db is not None:
            return current_holder(self.db)
        from qts.data.postgres import PostgresStore
        from qts.data.postgres.writer_lock import database_holder

        assert isinstance(self.store, PostgresStore)
        return database_holder(self.store.db)

    def close(self) -> None:
        self.store.close()


@app.command("status")
def status(
    db: DbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    broker: BrokerOpt = None,
    account: AccountOpt = None,
) -> None:
    """The current safety state and why."""
    books = Books(db, dsn, schema, broker, account)
    try:
        saved = books.store.load_state(STATE_KEY)
        request = books.store.load_state(REQUEST_KEY)
        holder = books.writer()
    finally:
        books.close()
    st = SafetyStatus.from_json(saved) if saved else SafetyStatus()
    typer.echo(f"state: {st.state}" + (f" since {st.since.isoformat()}" if st.since else ""))
    typer.echo(f"trading allowed: {'yes' if st.state.trading_allowed else 'no'}")
    if st.last_code:
        meaning = CATALOGUE[st.last_code].meaning if st.last_code in CATALOGUE else ""
        typer.echo(f"last code: {st.last_code} ({meaning}): {st.last_message}")
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
def history(
    db: DbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    broker: BrokerOpt = None,
    account: AccountOpt = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """The last safety events, oldest first."""
    books = Books(db, dsn, schema, broker, account)
    try:
        events = [from_record(r) for r in books.store.load_safety_events(limit)]
    finally:
        books.close()
    if not events:
        typer.echo("no safety events")
    for e in events:
        move = f"{e.state_before}->{e.state_after}" if e.transition else str(e.state_after)
        who = f" [{e.operator}]" if e.operator else ""
        typer.echo(f"{e.ts.isoformat()}  {move:<18} {e.kind:<18} {e.code:<6} {e.message}{who}")


@app.command("approve-recovery")
def approve_recovery(
    operator: Annotated[str, typer.Option(help="Who approves (recorded).")],
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again (recorded).")],
    db: DbOpt = None,
    dsn: DsnOpt = None,
    schema: SchemaOpt = None,
    broker: BrokerOpt = None,
    account: AccountOpt = None,
) -> None:
    """Approve leaving LOCKDOWN. The approval is recorded; the run applies it at its next cycle."""
    books = Books(db, dsn, schema, broker, account, write=True)
    try:
        request_id = request_recovery(books.store, operator, reason, WallClock().now())
    except RecoveryRefused as exc:
        raise InputError("approve-recovery", None, str(exc)) from None
    finally:
        books.close()
    typer.echo(f"recovery approved ({request_id}); the run leaves LOCKDOWN at its next cycle")
