"""The deployment files say what docs/deployment.md says: compose runs PostgreSQL with
TimescaleDB, Redis and QTS (migrated first, dashboard on the host's loopback with a token), and
the systemd unit runs ``qts run`` as its own user with secrets from an environment file."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from qts.config.loader import load_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_compose_services() -> None:
    doc = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = doc["services"]
    assert {"db", "redis", "qts", "migrate"} <= set(services)
    assert "timescaledb" in services["db"]["image"]
    assert services["migrate"]["command"] == ["db", "migrate"]
    qts = services["qts"]
    assert qts["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all(p.startswith("127.0.0.1:") for p in qts["ports"])
    env = (DEPLOY / "compose" / "qts.env.example").read_text()
    assert "QTS_DASHBOARD_TOKEN=" in env and "QTS_PG_DSN=" in env


def test_compose_config_is_valid() -> None:
    loaded = load_config(DEPLOY / "compose" / "qts.yaml", [])
    assert loaded.problems == []
    cfg = loaded.config
    assert cfg.data.backend == "postgres" and cfg.dashboard.host == "0.0.0.0"
    assert cfg.backup.interval_min > 0


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "systemd" / "qts.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[:2] == ["/opt/qts/.venv/bin/qts", "run"]
    assert service["User"] == "qts" and service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"].endswith("qts.env")
