"""Error types. Every message names the source, the field and the reason."""

from __future__ import annotations


class QtsError(Exception):
    """Base of every error QTS raises on purpose."""


class InputError(QtsError):
    """Bad input from outside: a data file, a config file, a broker reply, a CLI argument."""

    def __init__(self, source: str, field: str | None, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {reason}")


class ConfigError(InputError):
    """A configuration value is missing, malformed or set in a scope that may not set it."""


class DataError(InputError):
    """Market data that cannot be used as given."""


class IllegalTransition(QtsError):
    """A state machine was asked to make a move its rules forbid."""

    def __init__(self, machine: str, ident: str, current: str, target: str) -> None:
        self.current = current
        self.target = target
        super().__init__(f"{machine} {ident}: illegal transition {current} -> {target}")


class OrderRejected(QtsError):
    """An order refused before or at the venue, with the reason."""

    def __init__(self, reason: str, code: str = "REJECTED") -> None:
        self.reason = reason
        self.code = code
        super().__init__(f"{code}: {reason}")


class StorageError(QtsError):
    """The store could not record or read what was asked."""
