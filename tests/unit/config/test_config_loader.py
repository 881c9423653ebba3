"""load_config: defaults < strategy sheets < Config_Local < secrets, every problem named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qts.config.loader import LIVE_ACK_VALUE, LoadedConfig, Problem, load_config
from qts.config.models import Mode
from qts.core.errors import ConfigError
from qts.model.enums import OrderType

HEADER = "CATEGORY,SUB_CATEGORY,KEY,VALUE,DESCRIPTION,TAG\n"
LIVE_ENV = {"ENABLE_REAL_ORDER": "Y", "QTS_LIVE_ACK": LIVE_ACK_VALUE}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def sheet(tmp_path: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    return write(tmp_path / f"{name}.csv", header + "".join(r + "\n" for r in rows))


def load(
    local: Path | None = None, sheets: list[Path] | None = None, env: dict[str, str] | None = None
) -> LoadedConfig:
    return load_config(local, sheets, env={} if env is None else env)


def keys(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.source, p.key) for p in problems]


# --- merging -----------------------------------------------------------------------------------


def test_defaults_alone_are_valid() -> None:
    loaded = load()
    assert loaded.problems == []
    assert loaded.sources == ["defaults"]
    cfg = loaded.config
    assert cfg.mode is Mode.PAPER
    assert cfg.risk.max_exposure == 0.8
    assert cfg.strategies["swing_breakout"].params["breakout_window"] == 30


def test_local_beats_sheet_beats_defaults(tmp_path: Path) -> None:
    scalp = sheet(
        tmp_path, "Config_Scalp", ["entry,rsi,rsi_window,10,,", "entry,bb,bb_window,30,,"]
    )
    swing = sheet(
        tmp_path, "Config_Swing", ["entry,,breakout_window,25,,", "exit,,exit_window,9,,"]
    )
    local = write(
        tmp_path / "qts.yaml",
        "risk:\n  max_exposure: 0.5\n"
        "strategies:\n"
        "  scalp_reversion:\n    params:\n      rsi_window: 12\n"
        "  swing_breakout:\n    params:\n      exit_window: 12\n",
    )
    loaded = load(local, [scalp, swing])
    assert loaded.problems == []
    assert loaded.sources == ["defaults", str(scalp), str(swing), str(local)]
    strategies = loaded.config.strategies
    assert strategies["scalp_reversion"].params == {"rsi_window": 12, "bb_window": 30}
    assert strategies["swing_breakout"].params == {
        "breakout_window": 25,  # sheet over the default 30
        "exit_window": 12,  # local over the sheet's 9
        "trend_fast": 30,  # defaults
        "trend_slow": 90,
    }
    assert loaded.config.risk.max_exposure == 0.5
    assert loaded.config.risk.max_symbol_weight == 0.2  # untouched default beside it
    assert loaded.origin["strategies.scalp_reversion.params.rsi_window"] == str(local)
    assert loaded.origin["strategies.scalp_reversion.params.bb_window"] == str(scalp)
    assert loaded.origin["strategies.swing_breakout.params.breakout_window"] == str(swing)
    assert "strategies.swing_breakout.params.trend_fast" not in loaded.origin


def test_sheet_values_are_typed(tmp_path: Path) -> None:
    scalp = sheet(
        tmp_path,
        "Config_Scalp",
        ["a,,bb_k,2.5,,", "a,,rsi_oversold, 25 ,,", "a,,max_positions,3,three positions,", ""],
    )
    loaded = load(None, [scalp])
    assert loaded.problems == []
    params = loaded.config.strategies["scalp_reversion"].params
    assert params == {"bb_k": 2.5, "rsi_oversold": 25, "max_positions": 3}
    assert isinstance(params["bb_k"], float) and isinstance(params["max_positions"], int)


def test_local_yaml_sets_typed_sections(tmp_path: Path) -> None:
    local = write(
        tmp_path / "qts.yaml",
        "mode: backtest\nexecution:\n  order_type: LIMIT\n  limit_offset_ticks: 2\n",
    )
    cfg = load(local).config
    assert cfg.mode is Mode.BACKTEST
    assert cfg.execution.order_type is OrderType.LIMIT
    assert cfg.execution.limit_offset_ticks == 2
    assert cfg.execution.max_trades_per_day == 50


# --- problems in Config_Local ------------------------------------------------------------------


def test_unknown_yaml_keys_are_named_with_file_and_key_path(tmp_path: Path) -> None:
    local = write(
        tmp_path / "qts.yaml",
        "modee: paper\nexecution:\n  bogus: 1\nrisk:\n  max_exposur: 0.5\n",
    )
    loaded = load(local)
    src = str(local)
    assert sorted(keys(loaded.problems)) == sorted(
        [(src, "modee"), (src, "execution.bogus"), (src, "risk.max_exposur")]
    )
    assert all("Extra inputs are not permitted" in p.reason for p in loaded.problems)


def test_unknown_strategy_parameters_are_named_with_the_key_path(tmp_path: Path) -> None:
    local = write(
        tmp_path / "qts.yaml",
        "strategies:\n  scalp_reversion:\n    params:\n      rsi_windw: 3\n",
    )
    (p,) = load(local).problems
    assert (p.source, p.key) == (str(local), "strategies.scalp_reversion.params.rsi_windw")
    assert "Extra inputs are not permitted" in p.reason


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("run:\n  initial_cash: lots\n", "run.initial_cash"),
        ("risk:\n  max_exposure: 1.5\n", "risk.max_exposure"),
        ("mode: production\n", "mode"),
        ("execution:\n  limit_offset_ticks: 21\n", "execution.limit_offset_ticks"),
        ("strategies:\n  swing_breakout:\n    params:\n      atr_window: 0\n",
         "strategies.swing_breakout.params.atr_window"),
    ],
)  # fmt: skip
def test_wrong_values_are_named(tmp_path: Path, yaml_text: str, key: str) -> None:
    local = write(tmp_path / "qts.yaml", yaml_text)
    loaded = load(local)
    assert keys(loaded.problems) == [(str(local), key)]


def test_a_check_across_parameters_blames_the_file_that_set_them(tmp_path: Path) -> None:
    """fast against slow has no key of its own: it used to be blamed on the defaults, with
    pydantic's "Value error, " in front."""
    local = write(
        tmp_path / "qts.yaml",
        "strategies:\n  swing_breakout:\n    params:\n      trend_fast: 100\n",
    )
    (p,) = load(local).problems
    assert (p.source, p.key) == (str(local), "strategies.swing_breakout.params")
    assert p.reason.startswith("trend_fast (100) must be shorter than trend_slow")
    swing = sheet(tmp_path, "Config_Swing", ["trend,,trend_fast,100,,"])
    (p,) = load(None, [swing]).problems
    assert p.source == str(swing) and not p.reason.startswith("Value error")
    # the values in force are blamed: Config_Local's trend_fast overrides the sheet's
    assert [x.source for x in load(local, [swing]).problems] == [str(local)]
    slow = sheet(tmp_path, "Config_Swing", ["trend,,trend_slow,50,,"])
    assert [x.source for x in load(local, [slow]).problems] == [f"{slow} + {local}"]


def test_an_unknown_strategy_is_named(tmp_path: Path) -> None:
    local = write(tmp_path / "qts.yaml", "strategies:\n  moon_shot:\n    enabled: true\n")
    (p,) = load(local).problems
    assert (p.source, p.key) == (str(local), "strategies.moon_shot")
    assert "unknown strategy" in p.reason


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        ("mode: paper\nrun:\n  seed: 7\n   bad: 1\n", "line 4, column 7"),
        ("run:\n  seed: [1, 2\n", "line 3, column 1"),
        ("execution:\n\ttrading_enabled: true\n", "line 2, column 1"),
    ],
)
def test_invalid_yaml_is_named_with_line_and_column(
    tmp_path: Path, yaml_text: str, where: str
) -> None:
    local = write(tmp_path / "qts.yaml", yaml_text)
    (p,) = load(local).problems
    assert (p.source, p.key) == (str(local), where)
    assert p.reason.startswith("not valid YAML")


def test_a_yaml_list_at_the_top_is_refused(tmp_path: Path) -> None:
    local = write(tmp_path / "qts.yaml", "- a\n- b\n")
    (p,) = load(local).problems
    assert p.source == str(local) and "mapping" in p.reason


def test_a_missing_local_file_is_a_problem(tmp_path: Path) -> None:
    (p,) = load(tmp_path / "absent.yaml").problems
    assert p.source == str(tmp_path / "absent.yaml") and p.reason.startswith("cannot read")


def test_an_empty_local_file_changes_nothing(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "qts.yaml", "# nothing yet\n"))
    assert loaded.problems == []
    assert loaded.config == load().config


# --- problems in strategy sheets ---------------------------------------------------------------


def test_a_sheet_may_only_set_its_own_strategys_parameters(tmp_path: Path) -> None:
    scalp = sheet(
        tmp_path,
        "Config_Scalp",
        ["entry,,rsi_window,10,,", "entry,,breakout_window,5,,", "run,,mode,live,,"],
    )
    loaded = load(None, [scalp])
    assert keys(loaded.problems) == [(f"{scalp}:3", "breakout_window"), (f"{scalp}:4", "mode")]
    assert "Config_Scalp may only set scalp_reversion parameters" in loaded.problems[0].reason
    # the good row still applies
    assert loaded.config.strategies["scalp_reversion"].params == {"rsi_window": 10}


def test_a_sheet_value_of_the_wrong_type_names_the_sheet_and_key(tmp_path: Path) -> None:
    swing = sheet(tmp_path, "Config_Swing", ["entry,,atr_stop_mult,wide,,"])
    assert keys(load(None, [swing]).problems) == [
        (str(swing), "strategies.swing_breakout.params.atr_stop_mult")
    ]


@pytest.mark.parametrize(
    "header",
    ["CATEGORY,SUB_CATEGORY,NAME,VALUE,DESCRIPTION,TAG\n", "KEY,VALUE\n", ""],
)
def test_a_bad_sheet_header_is_named(tmp_path: Path, header: str) -> None:
    swing = sheet(tmp_path, "Config_Swing", ["entry,,breakout_window,25,,"], header=header)
    loaded = load(None, [swing])
    assert keys(loaded.problems) == [(f"{swing}:1", "header")]
    assert loaded.config.strategies["swing_breakout"].params["breakout_window"] == 30


def test_a_header_in_lower_case_is_accepted(tmp_path: Path) -> None:
    swing = sheet(tmp_path, "Config_Swing", ["e,,exit_window,9,,"], header=HEADER.lower())
    loaded = load(None, [swing])
    assert loaded.problems == []
    assert loaded.config.strategies["swing_breakout"].params["exit_window"] == 9


def test_a_row_without_a_key_is_named_by_line(tmp_path: Path) -> None:
    scalp = sheet(tmp_path, "Config_Scalp", ["entry,,rsi_window,10,,", "entry,,,10,,", "x,y"])
    assert keys(load(None, [scalp]).problems) == [(f"{scalp}:3", "KEY"), (f"{scalp}:4", "KEY")]


def test_an_unknown_sheet_name_is_refused(tmp_path: Path) -> None:
    other = sheet(tmp_path, "Config_Other", ["entry,,rsi_window,10,,"])
    loaded = load(None, [other])
    assert keys(loaded.problems) == [(str(other), "-")]
    assert str(other) not in loaded.sources


def test_every_problem_from_every_source_is_collected(tmp_path: Path) -> None:
    scalp = sheet(tmp_path, "Config_Scalp", ["entry,,exit_window,3,,"])
    local = write(tmp_path / "qts.yaml", "run:\n  seed: x\nsim:\n  participation: 0\n")
    loaded = load(local, [scalp])
    assert sorted(keys(loaded.problems)) == sorted(
        [(f"{scalp}:2", "exit_window"), (str(local), "run.seed"), (str(local), "sim.participation")]
    )
    with pytest.raises(ConfigError, match=r"\(and 2 more\)\n  "):
        loaded.raise_if_invalid()


def test_raise_if_invalid_is_silent_without_problems() -> None:
    load().raise_if_invalid()


# --- the live gate -----------------------------------------------------------------------------

LIVE_SWITCHES = ["execution.live_enabled", "ENABLE_REAL_ORDER", "QTS_LIVE_ACK"]


@pytest.mark.parametrize("live_enabled", [True, False])
@pytest.mark.parametrize("real_order", [True, False])
@pytest.mark.parametrize("ack", [True, False])
def test_live_mode_names_each_missing_switch(
    tmp_path: Path, live_enabled: bool, real_order: bool, ack: bool
) -> None:
    local = write(
        tmp_path / "qts.yaml",
        f"mode: live\nexecution:\n  live_enabled: {str(live_enabled).lower()}\n",
    )
    env = {"PATH": "/usr/bin"}
    if real_order:
        env["ENABLE_REAL_ORDER"] = "Y"
    if ack:
        env["QTS_LIVE_ACK"] = LIVE_ACK_VALUE
    loaded = load(local, env=env)
    missing = [
        name
        for name, present in zip(LIVE_SWITCHES, [live_enabled, real_order, ack], strict=True)
        if not present
    ]
    assert [p.key for p in loaded.problems] == missing
    assert loaded.config.mode is Mode.LIVE


@pytest.mark.parametrize("value", ["Y", "y", "YES", "1", "true"])
def test_live_mode_accepts_the_yes_spellings(tmp_path: Path, value: str) -> None:
    local = write(tmp_path / "qts.yaml", "mode: live\nexecution:\n  live_enabled: true\n")
    env = {"ENABLE_REAL_ORDER": value, "QTS_LIVE_ACK": LIVE_ACK_VALUE}
    assert load(local, env=env).problems == []


@pytest.mark.parametrize(
    "env",
    [
        {"ENABLE_REAL_ORDER": "N", "QTS_LIVE_ACK": LIVE_ACK_VALUE},
        {"ENABLE_REAL_ORDER": "Y", "QTS_LIVE_ACK": "yes"},
        {"ENABLE_REAL_ORDER": "Y", "QTS_LIVE_ACK": LIVE_ACK_VALUE.lower()},
    ],
)
def test_live_mode_refuses_near_misses(tmp_path: Path, env: dict[str, str]) -> None:
    local = write(tmp_path / "qts.yaml", "mode: live\nexecution:\n  live_enabled: true\n")
    assert len(load(local, env=env).problems) == 1


def test_the_live_switches_do_not_matter_outside_live_mode(tmp_path: Path) -> None:
    local = write(tmp_path / "qts.yaml", "mode: paper\nexecution:\n  live_enabled: false\n")
    assert load(local, env={}).problems == []


# --- the CLI -----------------------------------------------------------------------------------


def qts(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ENABLE_REAL_ORDER", "QTS_LIVE_ACK")}
    return subprocess.run(
        [sys.executable, "-m", "qts", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def test_cli_config_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "execution:\n  bogus: 1\nrun:\n  initial_cash: lots\n")
    scalp = sheet(tmp_path, "Config_Scalp", ["entry,,breakout_window,5,,"])
    out = qts("config", "check", "--config", str(bad), "--sheet", str(scalp))
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert f"{bad}: execution.bogus: Extra inputs are not permitted" in lines
    assert any(line.startswith(f"{bad}: run.initial_cash: ") for line in lines)
    assert any(line.startswith(f"{scalp}:2: breakout_window: ") for line in lines)
    assert "3 problem(s) found." in lines
    assert "configuration OK" not in out.stdout


def test_cli_config_check_names_the_missing_live_switches(tmp_path: Path) -> None:
    live = write(tmp_path / "live.yaml", "mode: live\nexecution:\n  live_enabled: true\n")
    out = qts("config", "check", "--config", str(live))
    assert out.returncode == 1
    assert "environment: ENABLE_REAL_ORDER: must be Y for mode live" in out.stderr
    assert f"environment: QTS_LIVE_ACK: must equal {LIVE_ACK_VALUE}" in out.stderr
    assert "execution.live_enabled" not in out.stderr
    ok = qts("config", "check", "--config", str(live), env=LIVE_ENV)
    assert ok.returncode == 0, ok.stderr
    assert "mode live" in ok.stdout


def test_cli_config_check_accepts_a_good_config(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", "mode: backtest\nrisk:\n  max_exposure: 0.5\n")
    swing = sheet(tmp_path, "Config_Swing", ["entry,,breakout_window,25,,"])
    out = qts("config", "check", "--config", str(good), "--sheet", str(swing))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("configuration OK (defaults, ")
    assert str(good) in out.stdout and str(swing) in out.stdout
    assert "mode backtest" in out.stdout


def test_cli_config_check_refuses_what_qts_run_refuses_at_start(tmp_path: Path) -> None:
    """The dashboard on an open address without a token, an alert channel without its secret:
    ``qts run`` refuses them at start, so the check must not call them OK."""
    cfg = write(
        tmp_path / "qts.yaml",
        "dashboard:\n  host: 0.0.0.0\nalerts:\n  telegram_chat_id: '42'\n  slack: true\n",
    )
    clean = {"QTS_DASHBOARD_TOKEN": "", "QTS_TELEGRAM_TOKEN": "", "QTS_SLACK_WEBHOOK_URL": ""}
    out = qts("config", "check", "--config", str(cfg), env=clean)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert any(x.startswith("Config_Local: dashboard.host: 0.0.0.0 is reachable") for x in lines)
    assert any(x.startswith("Config_Local: alerts: alerts.telegram_chat_id is set") for x in lines)
    assert "2 problem(s) found." in lines
    ok = qts(
        "config", "check", "--config", str(cfg),
        env={"QTS_DASHBOARD_TOKEN": "t0ken", "QTS_TELEGRAM_TOKEN": "1:x",
             "QTS_SLACK_WEBHOOK_URL": "https://hooks.example/x"},
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "t0ken" not in ok.stdout + ok.stderr
