"""Fixtures for the hybrid-store tests; the storage tests' helpers (Trader, STATE_KEYS) are
shared, so their folder is put on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "storage"))
