"""Log files of a long-running run: rotating, under ``var/log/``, next to the console.

The console keeps showing warnings and errors only (the status panel is the console's job); the
file gets everything from INFO up, so a day can be read back after the fact. Files rotate at
10 MB and ten are kept. Broker secrets are redacted on the file handler too (the adapters'
loggers redact already; this also covers any record that reaches the file another way).
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from qts.brokers.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 10


def log_to_files(folder: Path, name: str = "qts.log", level: int = logging.INFO) -> Path:
    """Add a rotating file log under ``folder``; returns the file. Idempotent per file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / name).resolve()
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path:
            return path
    for h in root.handlers:  # the console stays at its level while the root opens up
        if h.level == logging.NOTSET:
            h.setLevel(root.level or logging.WARNING)
    handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, level))
    return path
