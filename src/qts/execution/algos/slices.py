"""What a splitting algorithm produces: quantities with a time (or a turn) to go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SplitKind(StrEnum):
    SINGLE = "SINGLE"
    VWAP = "VWAP"
    TWAP = "TWAP"
    ICEBERG = "ICEBERG"


@dataclass(frozen=True, slots=True)
class SliceSpec:
    """One slice: ``sequence`` from 1; ``after_previous`` slices (iceberg) go out only once the
    slice before them has filled, others at ``scheduled_time``."""

    sequence: int
    qty: int
    scheduled_time: datetime
    after_previous: bool = False
    max_wait_ms: int = 5_000
