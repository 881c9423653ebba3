"""How the PostgreSQL adapter words a failure: one line, in the server's own words.

A module of its own because every part of the adapter (the database and its pool, the
migrations, the writer lock) turns driver errors into the same one-line
:class:`~qts.core.errors.StorageError` text, and none of them should need the others to do it.
"""

from __future__ import annotations

import psycopg

# What a call can raise besides StorageError: driver and server errors, and serialisation
# errors of the values handed in (naive datetimes, non-JSON values, text PostgreSQL refuses).
ERRORS = (psycopg.Error, ValueError, TypeError, OverflowError, AttributeError)


def one_line(text: str) -> str:
    """Collapse a multi-line driver message (libpq adds hints on new lines) into one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def reason(exc: BaseException) -> str:
    """The server's primary message (and detail) without libpq's CONTEXT lines."""
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        primary = diag.message_primary
        if primary:
            detail = diag.message_detail
            return one_line(f"{primary} ({detail})" if detail else primary)
    return one_line(str(exc)) or type(exc).__name__
