"""Load and merge the three configuration scopes, naming every problem with source and key.

Precedence (decisions.md): secrets (environment) > Config_Local (a YAML file) > strategy sheets
(Config_Scalp / Config_Swing, rows of CATEGORY,SUB_CATEGORY,KEY,VALUE,DESCRIPTION,TAG) > built-in
defaults. A strategy sheet may set its own strategy's parameters and the codes it trades (a row
whose KEY is ``universe.symbols``, VALUE the codes separated by commas or spaces; the run trades
the codes of every sheet, unless Config_Local's ``universe.symbols`` names them); anything else it
names is an error, as is a key that no scope may set. The same rules read a sheet's CSV export
(``--sheet``) and the sheet itself in the spreadsheet (``qts.data.sheets.config``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qts.config.models import Mode, QtsConfig
from qts.config.values import cast_value
from qts.core.errors import ConfigError, InputError
from qts.engines.strategy.registry import params_model, resolve

SHEET_STRATEGY = {"Config_Scalp": "scalp_reversion", "Config_Swing": "swing_breakout"}
SHEET_HEADER = ["CATEGORY", "SUB_CATEGORY", "KEY", "VALUE", "DESCRIPTION", "TAG"]
LIVE_ACK_VALUE = "I_UNDERSTAND_LIVE_TRADING"
UNIVERSE_KEY = "universe.symbols"  # the one key outside its strategy a strategy sheet may set


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.reason}"


@dataclass(slots=True)
class LoadedConfig:
    config: QtsConfig
    sources: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)

    def raise_if_invalid(self) -> None:
        """Refuse with every problem at once (the first in the error's fields, all in its
        message, one per line): a user fixes them in one go, not one per attempt."""
        if self.problems:
            first, rest = self.problems[0], self.problems[1:]
            more = f" (and {len(rest)} more)" if rest else ""
            listed = "".join(f"\n  {p}" for p in rest)
            raise ConfigError(first.source, first.key, first.reason + more + listed)


def _defaults() -> dict[str, Any]:
    import yaml  # loaded by the commands that read configuration (a backtest does not)

    text = resources.files("qts.config").joinpath("defaults/qts.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _merge(
    base: dict[str, Any],
    over: Mapping[str, Any],
    origin: dict[str, str],
    source: str,
    prefix: str = "",
) -> None:
    for key, value in over.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, source, path + ".")
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            origin[path] = source


def _read_local(path: Path, problems: list[Problem]) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        problems.append(Problem(str(path), "-", f"cannot read: {exc.strerror}"))
        return {}
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), f"byte {exc.start}", "not UTF-8 text"))
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "-"
        problems.append(
            Problem(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        )
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "-", "the top level must be a mapping of keys"))
        return {}
    return data


@dataclass(frozen=True, slots=True)
class SheetConfig:
    """What a strategy sheet sets: its strategy's parameters and the codes it trades."""

    strategy: str  # "" for a sheet that is not a strategy sheet
    params: dict[str, Any] = field(default_factory=dict)
    symbols: list[str] = field(default_factory=list)  # universe.symbols rows, in sheet order


def sheet_config(
    name: str,
    header: Sequence[str],
    rows: Iterable[tuple[str, Sequence[str]]],
    problems: list[Problem],
    *,
    where: str,
    header_at: str = "",
) -> SheetConfig:
    """A strategy sheet's rows (``(source, cells)``, header apart) by the rules of the module
    docstring; ``where`` names the sheet in problems about the sheet as a whole, ``header_at``
    its header row (default ``<where>:1``)."""
    strategy = SHEET_STRATEGY.get(name)
    if strategy is None:
        problems.append(
            Problem(where, "-", f"unknown sheet; expected one of {sorted(SHEET_STRATEGY)}")
        )
        return SheetConfig("")
    if [c.strip().upper() for c in header[:6]] != SHEET_HEADER:
        at = header_at or f"{where}:1"
        problems.append(Problem(at, "header", f"expected {','.join(SHEET_HEADER)}"))
        return SheetConfig(strategy)
    params: dict[str, Any] = {}
    symbols: list[str] = []
    allowed = set(params_model(strategy).model_fields)
    for source, row in rows:
        if not any(c.strip() for c in row):
            continue
        if len(row) < 4 or not row[2].strip():
            problems.append(Problem(source, "KEY", "row has no KEY or VALUE"))
            continue
        key = row[2].strip()
        if key == UNIVERSE_KEY:
            symbols += [c for c in row[3].replace(",", " ").split() if c not in symbols]
            continue
        if key not in allowed:
            problems.append(
                Problem(
                    source,
                    key,
                    f"{name} may only set {strategy} parameters "
                    f"({', '.join(sorted(allowed))}) and {UNIVERSE_KEY}",
                )
            )
            continue
        params[key] = cast_value(row[3])
    return SheetConfig(strategy, params, symbols)


def read_strategy_sheet(path: Path, problems: list[Problem]) -> SheetConfig:
    """A Config_Scalp / Config_Swing sheet exported as CSV: its strategy, parameters, codes."""
    if path.stem not in SHEET_STRATEGY:
        return sheet_config(path.stem, [], [], problems, where=str(path))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        problems.append(Problem(str(path), "-", f"cannot read: {exc.strerror}"))
        return SheetConfig(SHEET_STRATEGY[path.stem])
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.append(Problem(str(path), "-", f"not a UTF-8 CSV sheet: {exc}"))
        return SheetConfig(SHEET_STRATEGY[path.stem])
    numbered = ((f"{path}:{n}", row) for n, row in enumerate(rows[1:], start=2))
    return sheet_config(path.stem, rows[0] if rows else [], numbered, problems, where=str(path))


def merge_sheets(
    data: dict[str, Any],
    sheets: Iterable[tuple[str, SheetConfig]],
    origin: dict[str, str],
) -> list[str]:
    """Merge the sheets' parameters and codes (``(source, sheet)``) into ``data``; returns the
    sources merged."""
    sources: list[str] = []
    symbols: list[str] = []
    named: list[str] = []
    for source, sheet in sheets:
        if not sheet.strategy:
            continue
        _merge(data, {"strategies": {sheet.strategy: {"params": sheet.params}}}, origin, source)
        sources.append(source)
        if sheet.symbols:
            symbols += [c for c in sheet.symbols if c not in symbols]
            named.append(source)
    if symbols:
        _merge(data, {"universe": {"symbols": symbols}}, origin, " + ".join(named))
    return sources


def load_config(
    local: Path | None = None,
    sheets: list[Path] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    read_sheets: Sequence[tuple[str, SheetConfig]] = (),
) -> LoadedConfig:
    """Merge defaults, strategy sheets, Config_Local and secrets; collect every problem.

    ``sheets`` are CSV exports; ``read_sheets`` are sheets read already (``(source, sheet)``,
    e.g. from the spreadsheet by ``qts.data.sheets.config.spreadsheet_configs``), merged after
    them."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    origin: dict[str, str] = {}
    data = _defaults()
    sources = ["defaults"]
    from_csv = [(str(path), read_strategy_sheet(path, problems)) for path in sheets or []]
    sources += merge_sheets(data, [*from_csv, *read_sheets], origin)
    if local is not None:
        _merge(data, _read_local(local, problems), origin, str(local))
        sources.append(str(local))
    config = QtsConfig()
    try:
        config = QtsConfig.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            key = _key(e["loc"])
            problems.append(Problem(_source_of(key, origin), key, _msg(e)))
    # checked on the raw data, so that one bad key elsewhere hides none of these problems
    strategies = data.get("strategies")
    for name, section in strategies.items() if isinstance(strategies, dict) else []:
        try:  # a name, an installed package's entry point or path/to/file.py:ClassName
            model = resolve(str(name), f"strategies.{name}").params
        except InputError as exc:
            where = _source_of(f"strategies.{name}", origin)
            problems.append(Problem(where, f"strategies.{name}", exc.reason))
            continue
        params = section.get("params", {}) if isinstance(section, dict) else {}
        try:
            model.model_validate(params)
        except ValidationError as exc:
            for e in exc.errors():
                key = _key((f"strategies.{name}.params", *e["loc"]))
                # a check of the whole set (fast against slow) blames whoever set its values
                where = _source_of(key, origin) if e["loc"] else _sources_below(key, origin)
                problems.append(Problem(where, key, _msg(e)))
    execution = data.get("execution")
    live_enabled = isinstance(execution, dict) and execution.get("live_enabled") is True
    problems += live_gate_problems(str(data.get("mode", "")), live_enabled, env)
    return LoadedConfig(config, sources, problems, origin)


def _source_of(key: str, origin: Mapping[str, str]) -> str:
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        src = origin.get(".".join(parts[:n]))
        if src:
            return src
    return "defaults"


def _sources_below(key: str, origin: Mapping[str, str]) -> str:
    """The sources of ``key`` and of every key under it, in merge order ("defaults" if none)."""
    found = [s for k, s in origin.items() if k == key or k.startswith(key + ".")]
    return " + ".join(dict.fromkeys(found)) or _source_of(key, origin)


def _msg(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if str(p)) or "-"


def live_gate_problems(mode: str, live_enabled: bool, env: Mapping[str, str]) -> list[Problem]:
    """Live trading needs three independent switches; name each one that is missing."""
    if mode != Mode.LIVE.value:
        return []
    out = []
    if not live_enabled:
        out.append(Problem("Config_Local", "execution.live_enabled", "must be true for mode live"))
    if env.get("ENABLE_REAL_ORDER", "N").upper() not in ("Y", "YES", "1", "TRUE"):
        out.append(Problem("environment", "ENABLE_REAL_ORDER", "must be Y for mode live"))
    if env.get("QTS_LIVE_ACK") != LIVE_ACK_VALUE:
        out.append(Problem("environment", "QTS_LIVE_ACK", f"must equal {LIVE_ACK_VALUE}"))
    return out
