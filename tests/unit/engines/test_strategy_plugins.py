"""The strategy registry resolves built-in names, installed entry points and file paths, and
refuses a bad one in one line naming the source and the reason (the user's own line for an
exception raised while their module is imported)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from calc_kit import Book, calc, frame

from qts.config.loader import load_config
from qts.core.errors import ConfigError
from qts.engines.risk import RiskGate, RiskLimits
from qts.engines.strategy.failure import StrategyFailed
from qts.engines.strategy.registry import available, create, params_model, resolve
from qts.model.frame import Universe
from qts.pipeline.evaluate import evaluate

GOOD = """
from typing import ClassVar

from qts.strategy import CalcData, IndicatorSpec, StrategyDecision, StrategyParams, Track


class EveryParams(StrategyParams):
    qty: int = 1


class Every:
    name: ClassVar[str] = "{name}"
    track: ClassVar[Track] = Track.SWING
    params_model: ClassVar[type[StrategyParams]] = EveryParams

    def __init__(self, params: EveryParams) -> None:
        self.params = params

    def indicators(self) -> list[IndicatorSpec]:
        return []

    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:
        return []
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def refused(spec: str, source: str = "--strategy") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve(spec, source)
    assert info.value.source == source
    assert "\n" not in str(info.value)
    return info.value


def test_a_file_strategy_resolves_by_relative_path_to_its_absolute_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "mine/every.py", GOOD.format(name="every_plugin"))
    monkeypatch.chdir(tmp_path)
    kind = resolve("mine/every.py:Every")
    assert kind.spec == f"{tmp_path / 'mine' / 'every.py'}:Every"
    assert kind.name == "every_plugin" and kind.path == tmp_path / "mine" / "every.py"
    assert resolve(kind.spec).cls is kind.cls  # the file is executed once per process
    assert params_model(kind.spec).__name__ == "EveryParams"
    strategy = create(kind.spec, {"qty": 3})
    assert strategy.params.qty == 3 and strategy.name == "every_plugin"


def test_built_in_names_resolve_as_before() -> None:
    kind = resolve("sma_cross")
    assert kind.origin == "built-in" and kind.params.__name__ == "SmaCrossParams"


@pytest.mark.parametrize(
    ("files", "spec", "reason"),
    [
        ({}, "missing.py:X", "missing.py: file not found"),
        ({"folder.py/x": ""}, "folder.py:X", "is not a file"),
        ({"a.py": "x = 1\n"}, "a.py:Nope", "no class Nope in"),
        (
            {"a.py": GOOD.format(name="z1")},
            "a.py",
            "name the class: a.py:ClassName; strategy classes there: Every",
        ),
        (
            {"a.py": "class Plain:\n    pass\n"},
            "a.py:Plain",
            "not a strategy: Plain lacks indicators(), evaluate()",
        ),
        ({"a.py": "VALUE = 3\n"}, "a.py:VALUE", "not a strategy: 3 is not a class"),
        ({"a.py": "def f(:\n"}, "a.py:X", "SyntaxError: invalid syntax (at "),
        (
            {"a.py": "def helper():\n    return 1 / 0\n\n\nhelper()\n"},
            "a.py:X",
            "ZeroDivisionError: division by zero (at {tmp}/a.py, line 2: return 1 / 0)",
        ),
        (
            {"a.py": "import no_such_module_q\n"},
            "a.py:X",
            "No module named 'no_such_module_q' (at {tmp}/a.py, line 1: import no_such_module_q)",
        ),
        ({}, "some/dir:Cls", "expected path/to/file.py:ClassName"),
        ({}, "moon_shot", "unknown strategy (available: "),
        ({"a.py": GOOD.format(name="sma_cross")}, "a.py:Every", "name 'sma_cross' is taken"),
        ({"a.py": GOOD.format(name="adopted")}, "a.py:Every", "name 'adopted' is taken"),
    ],
)
def test_a_bad_spec_is_one_line_naming_it_and_the_reason(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    spec: str,
    reason: str,
) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    monkeypatch.chdir(tmp_path)
    error = refused(spec)
    assert error.field == spec
    assert reason.format(tmp=tmp_path) in error.reason, error.reason
    assert "Traceback" not in str(error)


def test_bad_parameters_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "p.py", GOOD.format(name="every_params"))
    with pytest.raises(ConfigError) as info:
        create(f"{path}:Every", {"qty": "many", "bogus": 1}, source="--param")
    assert info.value.source == "--param" and info.value.field == "every_params"
    assert "qty" in info.value.reason and "bogus" in info.value.reason


def test_a_constructor_that_raises_is_one_line_with_the_users_line(tmp_path: Path) -> None:
    text = GOOD.format(name="every_init").replace(
        "        self.params = params", "        self.params = params\n        [][0]"
    )
    path = write(tmp_path, "init.py", text)
    with pytest.raises(ConfigError) as info:
        create(f"{path}:Every", {})
    assert "Every(params) failed: IndexError: list index out of range" in info.value.reason
    assert f"(at {path}, line" in info.value.reason and "[][0]" in info.value.reason


def dist(root: Path, name: str, entry_points: str) -> None:
    """An installed distribution as pip leaves it: a .dist-info folder with entry_points.txt."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[qts.strategies]\n{entry_points}\n")


def test_an_installed_package_registers_a_strategy_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "plug_pkg_a/__init__.py", "")
    write(tmp_path, "plug_pkg_a/every.py", GOOD.format(name="every_installed"))
    write(tmp_path, "plug_pkg_b/__init__.py", "")
    write(tmp_path, "plug_pkg_b/broken.py", "import os\n\nos.environ['NO_SUCH_KEY_Q']\n")
    dist(tmp_path, "plug-dist-a", "every_installed = plug_pkg_a.every:Every")
    dist(tmp_path, "plug-dist-b", "broken_installed = plug_pkg_b.broken:Broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"every_installed", "broken_installed", "sma_cross"} <= set(available())
    kind = resolve("every_installed")
    assert kind.origin == "entry point of plug-dist-a" and kind.name == "every_installed"
    assert create("every_installed", {"qty": 2}).params.qty == 2
    error = refused("broken_installed")
    assert "entry point broken_installed = plug_pkg_b.broken:Broken" in error.reason
    assert "from plug-dist-b" in error.reason and "KeyError: 'NO_SUCH_KEY_Q'" in error.reason
    assert "broken.py, line 3: os.environ['NO_SUCH_KEY_Q']" in error.reason


def test_the_config_names_a_file_strategy_and_its_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, "c.py", GOOD.format(name="every_config"))
    local = tmp_path / "qts.yaml"
    local.write_text(f'strategies:\n  "{path}:Every":\n    params: {{qty: 5}}\n')
    loaded = load_config(local)
    loaded.raise_if_invalid()
    assert loaded.config.strategies[f"{path}:Every"].params == {"qty": 5}
    local.write_text(f'strategies:\n  "{path}:Every":\n    params: {{qty: x}}\n')
    problems = [str(p) for p in load_config(local).problems]
    assert any(f"strategies.{path}:Every.params.qty" in p for p in problems), problems
    local.write_text('strategies:\n  "nowhere.py:Every":\n    params: {}\n')
    problems = [str(p) for p in load_config(local).problems]
    assert any("nowhere.py: file not found" in p for p in problems), problems


def test_indicators_that_cannot_be_computed_are_refused_before_a_run(tmp_path: Path) -> None:
    for n, (body, reason) in enumerate(
        [
            (
                'return [IndicatorSpec("ema", 3)]',
                "indicators() failed: ValueError: indicator 'ema'",
            ),
            ('return ["sma:3"]', "indicators() must return IndicatorSpecs, not 'sma:3'"),
        ]
    ):
        text = GOOD.format(name=f"every_ind{n}").replace("return []", body, 1)
        path = write(tmp_path, f"ind{n}.py", text)
        with pytest.raises(ConfigError) as info:
            create(f"{path}:Every", {}, source="--param")
        assert reason in info.value.reason, info.value.reason
        assert info.value.source == "--strategy"  # the strategy's code, not the user's --param


def test_a_check_of_the_whole_parameter_set_reads_as_one_plain_reason() -> None:
    with pytest.raises(ConfigError) as info:
        create("sma_cross", {"fast": 40, "slow": 30}, source="--param")
    assert str(info.value) == "--param: sma_cross: fast (40) must be shorter than slow (30)"
    with pytest.raises(ConfigError) as info:
        create("sma_cross", {"fast": "x"}, source="--param")
    assert str(info.value).startswith("--param: sma_cross: fast: ")


def test_an_exception_in_evaluate_names_the_strategy_and_the_users_line(tmp_path: Path) -> None:
    text = GOOD.format(name="every_eval").replace(
        "    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:\n        return []",
        "    def evaluate(self, calc: CalcData) -> list[StrategyDecision]:\n"
        "        return lookup(calc)\n\n\n"
        "def lookup(calc):\n    return {}[calc.raw.universe.symbols[0]]",
    )
    path = write(tmp_path, "ev.py", text)
    strategy = create(f"{path}:Every", {})
    c = calc(frame(Universe(("A",)), [10_000]), Book())
    with pytest.raises(StrategyFailed) as info:
        evaluate(c, [strategy], RiskGate(RiskLimits()))
    assert str(info.value) == (
        f"strategy every_eval: KeyError: 'A' (at {path}, line 27: "
        "return {}[calc.raw.universe.symbols[0]])"
    )
