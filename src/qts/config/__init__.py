"""Configuration: one schema, three scopes (secrets > Config_Local > strategy sheets > defaults)."""

from qts.config.loader import LoadedConfig, load_config
from qts.config.models import QtsConfig

__all__ = ["LoadedConfig", "QtsConfig", "load_config"]
