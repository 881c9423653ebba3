"""The one place a strategy is found: a built-in name, an installed package's entry point (group
``qts.strategies``) or ``path/to/file.py:ClassName`` (ADR 0019).

Every command (``qts backtest``, ``qts run``, ``qts optimize`` and its worker processes) asks this
registry, so a strategy that loads in one loads in all. A path is made absolute when resolved and
the absolute form is what travels to workers, so a trial finds the file whatever its directory.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from qts.core.errors import ConfigError
from qts.engines.indicators import IndicatorSpec
from qts.engines.strategy.base import Strategy, StrategyParams
from qts.engines.strategy.failure import describe, source_roots
from qts.engines.strategy.loading import (
    classes_in,
    installed,
    is_path_spec,
    load_entry_point,
    load_file,
    split_path_spec,
)
from qts.engines.strategy.scalp_reversion import ScalpReversion
from qts.engines.strategy.sma_cross import SmaCross
from qts.engines.strategy.swing_breakout import SwingBreakout
from qts.model.enums import Track

BUILT_IN: dict[str, type[Any]] = {
    cls.name: cls for cls in (SmaCross, ScalpReversion, SwingBreakout)
}
RESERVED = {"adopted", "micro_risk"}  # strategy tags the books give positions of their own


@dataclass(frozen=True, slots=True)
class StrategyType:
    """A resolved strategy: the class, its parameters' model and where it came from."""

    spec: str  # canonical: the built-in or entry point name, or /absolute/file.py:ClassName
    cls: type[Any]
    params: type[StrategyParams]
    origin: str  # "built-in", "entry point of <dist>" or "file /abs/path.py"
    path: Path | None = None  # the file, for a path spec

    @property
    def name(self) -> str:
        """The strategy's own name: what its decisions and positions are tagged with."""
        return str(self.cls.name)


def available() -> list[str]:
    """Built-in and installed strategy names (a file path is always accepted too)."""
    return sorted({*BUILT_IN, *installed()})


def _unknown() -> str:
    return f"unknown strategy (available: {', '.join(available())}; or path/to/file.py:ClassName)"


_names: dict[str, StrategyType] = {}  # built-in and entry point names, resolved once


def resolve(spec: str, source: str = "--strategy") -> StrategyType:
    """The strategy ``spec`` names, checked; a bad spec is an :class:`InputError` naming
    ``source``, the spec and the reason."""
    if is_path_spec(spec):
        path, cls_name = split_path_spec(spec, source)
        module = load_file(path, spec, source)  # executed once per process
        found = classes_in(module)
        if not cls_name:
            hint = f"; strategy classes there: {', '.join(found)}" if found else ""
            raise ConfigError(source, spec, f"name the class: {path.name}:ClassName{hint}")
        if not hasattr(module, cls_name):
            hint = f" (strategy classes there: {', '.join(found)})" if found else ""
            raise ConfigError(source, spec, f"no class {cls_name} in {path}{hint}")
        cls = _check(getattr(module, cls_name), spec, source)
        kind = StrategyType(f"{path}:{cls_name}", cls, _params_of(cls), f"file {path}", path)
        return _named(kind, spec, source)
    if spec in _names:
        return _names[spec]
    if spec in BUILT_IN:
        cls = BUILT_IN[spec]
        kind = StrategyType(spec, cls, _params_of(cls), "built-in")
    else:
        ep = installed().get(spec)
        if ep is None:
            raise ConfigError(source, spec, _unknown())
        dist = ep.dist.name if ep.dist is not None else "an installed package"
        cls = _check(load_entry_point(ep, source), spec, source)
        kind = _named(
            StrategyType(spec, cls, _params_of(cls), f"entry point of {dist}"), spec, source
        )
    _names[spec] = kind
    return kind


def _named(kind: StrategyType, spec: str, source: str) -> StrategyType:
    """A plug-in may not take a name the books already give to something else."""
    if kind.name in {*BUILT_IN, *RESERVED}:
        raise ConfigError(
            source,
            spec,
            f"name {kind.name!r} is taken by QTS itself; give the strategy another name",
        )
    return kind


def _check(obj: object, spec: str, source: str) -> type[Any]:
    """A class with the strategy interface (``qts.strategy.Strategy``), or one line saying what
    it lacks."""
    if not inspect.isclass(obj):
        raise ConfigError(source, spec, f"not a strategy: {obj!r} is not a class")
    missing = [f"{m}()" for m in ("indicators", "evaluate") if not callable(getattr(obj, m, None))]
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        missing.append("name (a str class attribute)")
    if not isinstance(getattr(obj, "track", None), Track):
        missing.append("track (a Track class attribute)")
    model = getattr(obj, "params_model", StrategyParams)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        missing.append("params_model (a StrategyParams subclass)")
    if missing:
        raise ConfigError(
            source, spec, f"not a strategy: {obj.__name__} lacks {', '.join(missing)}"
        )
    return obj


def _params_of(cls: type[Any]) -> type[StrategyParams]:
    model: type[StrategyParams] = getattr(cls, "params_model", StrategyParams)
    return model


def params_model(spec: str, source: str = "--strategy") -> type[StrategyParams]:
    return resolve(spec, source).params


def create(spec: str, params: Mapping[str, Any], source: str = "strategy") -> Strategy:
    """Build a strategy from raw parameters; every bad key is named in the error."""
    code_source = "--strategy" if source == "--param" else source  # the strategy's own fault
    kind = resolve(spec, code_source)
    try:
        parsed = kind.params.model_validate(dict(params))
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(source, kind.name, problems) from None
    try:
        strategy: Strategy = kind.cls(parsed)
    except Exception as exc:
        reason = describe(exc, source_roots(kind.cls))
        raise ConfigError(source, spec, f"{kind.cls.__name__}(params) failed: {reason}") from None
    try:  # asked once here, so that a bad indicator is refused before a run starts
        wanted = list(strategy.indicators())
    except Exception as exc:
        reason = describe(exc, source_roots(kind.cls))
        raise ConfigError(code_source, spec, f"{kind.name}.indicators() failed: {reason}") from None
    odd = [w for w in wanted if not isinstance(w, IndicatorSpec)]
    if odd:
        raise ConfigError(
            code_source,
            spec,
            f"{kind.name}.indicators() must return IndicatorSpecs, not {odd[0]!r}",
        )
    return strategy


def _problem(error: Any) -> str:
    """One pydantic error as ``key: reason``; a check of the whole model (``fast`` against
    ``slow``) has no key, and its message carries no "Value error, " prefix."""
    where = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg
