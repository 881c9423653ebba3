"""Order-splitting algorithms (spec §2.3): how one scalp order becomes slices.

Pure: each takes the order's quantity and the time and returns :class:`SliceSpec` s whose
quantities always sum to the order (property-tested).
"""

from qts.execution.algos.slices import SliceSpec, SplitKind
from qts.execution.algos.split import (
    DEFAULT_MAX_SLICES,
    SplitPolicy,
    VolumeBucket,
    iceberg,
    select_split,
    single,
    split_order,
    twap,
    vwap,
)

__all__ = [
    "DEFAULT_MAX_SLICES",
    "SliceSpec",
    "SplitKind",
    "SplitPolicy",
    "VolumeBucket",
    "iceberg",
    "select_split",
    "single",
    "split_order",
    "twap",
    "vwap",
]
