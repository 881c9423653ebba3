"""Configuration: one schema, three scopes (secrets > Config_Local > strategy sheets > defaults).

The names below are imported when first used: a ``qts backtest`` that only types ``--param``
values (``qts.config.values``) does not build the schema's models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qts.config.loader import LoadedConfig, load_config
    from qts.config.models import QtsConfig

__all__ = ["LoadedConfig", "QtsConfig", "load_config"]

_WHERE = {
    "LoadedConfig": "qts.config.loader",
    "load_config": "qts.config.loader",
    "QtsConfig": "qts.config.models",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value
