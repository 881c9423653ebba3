"""Where a broker run keeps its books: one durable store per broker account.

The default is a SQLite file under ``var/`` named after the broker, the account kind and a
short hash of the account (``var/live-kis-paper-1a2b3c4d.sqlite``), never the account number
itself: file names end up in logs, shell histories and support tickets. The hash is 32 bits of
SHA-256, which tells one's own accounts apart but does not identify an account number (about
24 eight-digit numbers share each value). ``--db`` names another file; ``data.backend``
(postgres, hybrid, sheets) keeps the books there instead, as in paper mode. The adapter's map of
client order ids to the broker's order numbers lives next to the books (``<db>.orders``), so a
restarted process knows which orders it sent and sends nothing twice, and so does its access
token (``<db>.token``, readable by the owner only, qts.brokers.token_cache): KIS issues one
token a minute per app key, and Kiwoom rate-limits the issuance of its day-long tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qts.app.wiring import Engine

VAR = Path("var")
VENUES = ("kis", "kiwoom")  # the brokers with a live path
ACCOUNTS = ("paper", "real")


@dataclass(frozen=True, slots=True)
class LiveBooks:
    """The identity and files of one account's books."""

    tag: str  # broker-account-hash: the run id, and the stem of the default files
    db: Path  # the SQLite books (and the stem of the outbox for hybrid)
    order_map: Path  # the adapter's client id <-> broker order number map
    token_cache: Path  # the broker's access token (owner-only file), reused by a restart

    @property
    def run_id(self) -> str:
        return f"live-{self.tag}"


def account_hash(broker: str, account_id: str) -> str:
    """32 bits of SHA-256 of the broker and account: stable, and not the account number."""
    return hashlib.sha256(f"qts:{broker}:{account_id}".encode()).hexdigest()[:8]


def books_tag(broker: str, account: str, account_id: str) -> str:
    """broker-account-hash: the run id's tail and the stem of the default files."""
    return f"{broker}-{account}-{account_hash(broker, account_id)}"


def default_books_file(broker: str, account: str, account_id: str) -> Path:
    """Where ``qts run --broker ... --account ...`` keeps the account's SQLite books by default
    (relative to the folder it runs in); not created here."""
    return VAR / f"live-{books_tag(broker, account, account_id)}.sqlite"


def live_books(broker: str, account: str, account_id: str, db: Path | None = None) -> LiveBooks:
    """The books of ``account_id`` at ``broker`` (``account``: paper or real)."""
    tag = books_tag(broker, account, account_id)
    path = db if db is not None else default_books_file(broker, account, account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return LiveBooks(tag, path, Path(f"{path}.orders"), Path(f"{path}.token"))


def venue_account_id(broker: str, account: str, env: Mapping[str, str]) -> str:
    """What identifies the account at ``broker`` (hashed into the books' name, never shown):
    KIS's CANO and product code; Kiwoom's account number, or its app key when the account is
    read from ka00001."""
    from qts.app.venues import kis_config, kiwoom_config

    if broker == "kis":
        kis = kis_config(account, env)
        return kis.cano.get_secret_value() + kis.acnt_prdt_cd
    kw = kiwoom_config(account, env)
    return (kw.account_no or kw.app_key).get_secret_value()


def describe_books(engine: Engine, books: LiveBooks, backend: str) -> str:
    """One line for the console: where the books are and what start-up reconciliation did."""
    where = str(books.db) if backend == "sqlite" else f"{backend} (run {books.run_id})"
    r = engine.reconcile
    state = "resumed" if engine.resumed else "new"
    return (
        f"books: {where} ({state}); reconciliation with the broker: {r.fills_booked} fill(s) "
        f"booked, {r.orders_updated} order(s) updated, {len(r.orders_canceled)} canceled as "
        f"unknown, {len(r.problems)} problem(s); safety {engine.runner.safety.state}"
    )
