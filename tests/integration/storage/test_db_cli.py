"""``qts db``: status, migrate, downgrade and maintain against the real server, and the one-line
error when the server cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pg_helpers import PLAIN, POOLS, TARGETS, Target
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from qts.cli.db import app

runner = CliRunner()


@pytest.fixture(params=TARGETS, ids=lambda t: t.mode)
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def schema(target: Target) -> Iterator[str]:
    with POOLS[target.mode].scratch() as name:
        yield name


def qts_db_at(target: Target, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"QTS_PG_DSN": target.dsn})
    return result.exit_code, result.output


def test_migrate_status_downgrade_and_maintain(schema: str, target: Target) -> None:
    def qts_db(*args: str) -> tuple[int, str]:
        return qts_db_at(target, *args)

    code, out = qts_db("status", "--schema", schema)
    assert code == 0
    assert "schema_version: 0" in out and "pending_migrations: 8" in out

    code, out = qts_db("migrate", "--schema", schema)
    assert code == 0, out
    assert out.splitlines() == [
        f"applied 1, 2, 3, 4, 5, 6, 7, 8: schema {schema} at version 8",
        f"mode: {target.mode}",
    ]
    code, out = qts_db("migrate", "--schema", schema)
    assert code == 0 and out.startswith(f"nothing to do: schema {schema} at version 8")

    code, out = qts_db("status", "--schema", schema, "--json")
    assert code == 0
    info = json.loads(out)
    assert (info["mode"], info["schema_version"], info["pending_migrations"]) == (
        target.mode,
        8,
        0,
    )
    assert info["timescaledb"]["available"] is target.timescale

    code, out = qts_db("maintain", "--schema", schema, "--now", "2024-01-02T16:00:00+09:00")
    assert code == 0, out
    if target.timescale:  # chunks come with the rows; the continuous aggregates all refresh
        assert "created: -" in out and "refreshed ohlcv_1m" in out
    else:  # partitions are made ahead; no ticks, no bars to materialize
        assert "tick_data_p20240102" in out and "refreshed ohlcv_1m" not in out
    assert "refreshed daily_pnl" in out

    code, out = qts_db("downgrade", "--schema", schema, "--to", "4", "--yes")
    assert code == 0 and out.strip() == f"undid 8, 7, 6, 5: schema {schema} at version 4"
    code, out = qts_db("downgrade", "--schema", schema, "--to", "2")
    assert code != 0 and "Aborted" in out  # no confirmation on an empty stdin
    code, out = qts_db("migrate", "--schema", schema, "--to", "5")
    assert code == 0 and out.startswith("applied 5:")


def test_a_refused_command_is_one_line_and_non_zero(schema: str, target: Target) -> None:
    def qts_db(*args: str) -> tuple[int, str]:
        return qts_db_at(target, *args)

    code, out = qts_db("downgrade", "--schema", schema, "--to", "3", "--yes")
    assert code == 1
    (line,) = out.strip().splitlines()
    assert line.startswith("error: postgres ") and line.endswith(
        f"[{schema}]: cannot downgrade to 3: the schema is at version 0"
    )
    code, out = qts_db("maintain", "--schema", schema, "--now", "2024-01-02T16:00:00")
    assert code == 1 and out.strip() == "error: --now: '2024-01-02T16:00:00' has no time zone"


def test_status_on_an_unreachable_server_prints_one_line_and_fails() -> None:
    """Run as a person would: a separate process, stderr and the exit code."""
    dsn = make_conninfo(PLAIN.dsn, port=1, password="s3cret-pw")
    done = subprocess.run(
        [sys.executable, "-c", "from qts.cli.db import app; app()", "status"],
        env={"QTS_PG_DSN": dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: postgres 127.0.0.1:1/")
    assert "cannot connect" in lines[0]
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr
