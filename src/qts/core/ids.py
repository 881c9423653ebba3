"""Deterministic identifiers.

A client order id is derived from what the order *is* (run, cycle, strategy, symbol, side), so a
cycle that is re-run after a crash produces the same id and the order is recognised, not sent twice.
"""

from __future__ import annotations

import hashlib


def client_order_id(run_id: str, cycle_id: str, strategy: str, symbol: str, side: str) -> str:
    digest = hashlib.blake2b(
        f"{run_id}|{cycle_id}|{strategy}|{symbol}|{side}".encode(), digest_size=8
    ).hexdigest()
    return f"Q{digest}"


def cycle_id(ts_iso: str) -> str:
    return ts_iso
