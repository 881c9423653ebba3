"""``qts run --account real`` names every missing live switch at once, and says nothing about
running on the real account before the gate has passed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cli_run import run_qts

SWITCHES = {
    "mode": "Config_Local: mode: must be live for --account real",
    "live_enabled": "execution.live_enabled: must be true for mode live",
    "ENABLE_REAL_ORDER": "environment: ENABLE_REAL_ORDER: must be Y for mode live",
    "QTS_LIVE_ACK": "environment: QTS_LIVE_ACK: must equal I_UNDERSTAND_LIVE_TRADING",
}


def qts(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ENABLE_REAL_ORDER", "QTS_LIVE_ACK")}
    return run_qts(*args, env={**base, "COLUMNS": "200", **env}, cwd=tmp_path, timeout=60)


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "real account" not in out and "connected" not in out
    assert "Traceback" not in out
    return out


def test_every_missing_switch_is_named_at_once(tmp_path: Path) -> None:
    out = refused(qts(tmp_path, "run", "--broker", "kis", "--account", "real"))
    for text in SWITCHES.values():
        assert text in out


@pytest.mark.parametrize("given", ["ENABLE_REAL_ORDER", "QTS_LIVE_ACK"])
def test_a_config_in_live_mode_lists_the_switches_still_missing(tmp_path: Path, given: str) -> None:
    (tmp_path / "qts.yaml").write_text("mode: live\n")
    env = {"ENABLE_REAL_ORDER": "Y"} if given == "ENABLE_REAL_ORDER" else {}
    if given == "QTS_LIVE_ACK":
        env["QTS_LIVE_ACK"] = "I_UNDERSTAND_LIVE_TRADING"
    out = refused(
        qts(tmp_path, "run", "--broker", "kis", "--account", "real", "-c", "qts.yaml", **env)
    )
    missing = [k for k in ("live_enabled", "ENABLE_REAL_ORDER", "QTS_LIVE_ACK") if k != given]
    for key in missing:
        assert SWITCHES[key] in out
    assert SWITCHES[given] not in out
    assert SWITCHES["mode"] not in out
