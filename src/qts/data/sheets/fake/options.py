"""The fake's knobs (quotas, token lifetime, auth), its fault switches, and what it saw.

Kept apart from the server so a test reads the settings and the counters it asserts on
without the HTTP machinery around them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FakeSheetsOptions:
    """Quota and auth switches. ``None`` quota: unlimited."""

    read_quota: int | None = 60
    write_quota: int | None = 60
    quota_window_s: float = 60.0
    retry_after_s: float | None = None  # Google's Sheets answers rarely carry one
    token_lifetime_s: int = 3600
    require_auth: bool = True


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status``.

    ``kind``: ``read``, ``write`` or ``any``. ``after_apply``: apply the request first, then
    answer the error (the write took place; a client that retries must not duplicate it).
    """

    status: int = 503
    times: int = 1
    kind: str = "any"
    after_apply: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str  # decoded, without the query
    kind: str  # read, write, token
    status: int


@dataclass
class Stats:
    reads: int = 0  # read requests answered 200
    writes: int = 0  # write requests applied (including those answered with an after-apply fault)
    throttled: int = 0  # 429 answers for quota
    faults: int = 0  # answers from injected faults
    log: list[RequestRecord] = field(default_factory=list)


def request_counts(stats: Stats) -> Counter[tuple[str, int]]:
    """How many requests of each kind got each status (for assertions)."""
    return Counter((r.kind, r.status) for r in stats.log)
