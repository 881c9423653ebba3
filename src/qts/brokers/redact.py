"""Keep broker secrets out of logs, including the logs of the HTTP and WebSocket libraries.

The adapters never format a secret into a message. But httpx logs every request URL at INFO (a
KIS GET's query string holds the account number) and websockets logs frames at DEBUG (a KIS
subscribe frame holds the approval key, a Kiwoom LOGIN frame the access token). A filter on
those loggers replaces every registered secret with ``***`` before any handler sees the record.

**Before truncation.** websockets shortens a long frame when it formats it (the first 48 and
the last 24 characters around ``...``), so a secret cut in half by the shortening is no longer
the registered string: redacting the formatted line would let its first half through. The
filter therefore redacts the *arguments* of a record — a websockets frame's payload, bytes,
strings — before the message is formatted, and the formatted message once more after.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

_MIN_LEN = 6  # shorter values ("01", "P") are not secrets and would mangle every line
_LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "websockets",
    "websockets.client",
    "websockets.server",
    "qts.brokers.kis",
    "qts.brokers.kiwoom",
)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def add(self, *values: str) -> None:
        fresh = {v for v in values if v and len(v) >= _MIN_LEN}
        if fresh - self._values:
            with self._lock:
                self._values = self._values | fresh

    @property
    def active(self) -> bool:
        return bool(self._values)

    def redact(self, text: str) -> str:
        values = self._values
        if not values:
            return text
        for value in sorted(values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, "***")
        return text


SECRETS = _Registry()


def register_secrets(*values: str) -> None:
    """Add values (keys, tokens, account numbers) that must never be logged."""
    SECRETS.add(*values)
    install()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return SECRETS.redact(text)


def _clean_arg(arg: Any) -> Any:
    """``arg`` with its secrets removed *before* it is formatted (and possibly shortened)."""
    if isinstance(arg, str):
        return SECRETS.redact(arg)
    if isinstance(arg, bytes | bytearray):
        text = bytes(arg).decode("utf-8", "replace")
        clean = SECRETS.redact(text)
        return arg if clean == text else clean.encode()
    data = getattr(arg, "data", None)  # a websockets Frame: opcode, data (bytes), fin, ...
    if (
        isinstance(data, bytes | bytearray)
        and hasattr(arg, "opcode")
        and dataclasses.is_dataclass(arg)
        and not isinstance(arg, type)
    ):
        cleaned = _clean_arg(data)
        if cleaned is not data:
            return dataclasses.replace(arg, data=cleaned)
    return arg


class RedactingFilter(logging.Filter):
    """Rewrites a record whose arguments or message contain a registered secret; never drops
    one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS.active and isinstance(record.args, tuple):
            record.args = tuple(_clean_arg(a) for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; leave it alone
            return True
        clean = SECRETS.redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


_FILTER = RedactingFilter()
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Attach the filter to the library loggers (idempotent)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)
        _installed = True


def logger(name: str) -> logging.Logger:
    """A module logger that carries the redacting filter too (defence in depth)."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log
