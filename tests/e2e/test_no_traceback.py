"""No traceback for any user error, as a property over every command and option of ``qts``.

The commands and their options are read from the CLI itself, so a new option is covered (or the
test says it is not). For each option a generator draws values that are wrong for it (text where
a number belongs, numbers out of range, unknown choices, paths under a regular file, files of
garbage where a config, database or CSV belongs); the other options keep valid values. Each
invocation must exit non-zero, print no traceback, and name the option (or the bad value) in its
message. The command runs in this process through ``qts.cli.main.main`` (what the ``qts`` script
calls), so an escaping exception fails the test with the traceback a user would have seen;
``sim serve`` blocks when its arguments are good, so it runs as a process with a deadline.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qts.cli.main import app, main
from qts.data import SqliteStore

DATA = Path(__file__).parents[1] / "data"
PG = os.environ.get("QTS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# Commands that need an outside service the test does not configure (Google Sheets): their other
# options cannot all be valid, so only "non-zero, no traceback" is asserted for them.
NEEDS_SERVICE = {("db", "migrate-from-sheets")}

# Commands that serve until stopped when their arguments are good: run as a process with a deadline.
SERVES = {("sim", "serve"), ("dashboard",)}

# Options whose every value is acceptable text, so no "bad value" exists to draw.
FREE_TEXT = {
    ("safety", "approve-recovery", "--operator"),
    ("safety", "approve-recovery", "--reason"),
    ("state", "set", "--operator"),
    ("state", "set", "--reason"),
}


def commands() -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is not None:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), ())
    return out


def options() -> list[tuple[tuple[str, ...], str, Any]]:
    return [
        (path, p.opts[0], p)
        for path, cmd in commands()
        for p in cmd.params
        if p.param_type_name == "option" and p.opts[0].startswith("--")
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    plain = root / "plain.txt"
    plain.write_text("not a folder\n")
    garbage = root / "garbage.bin"
    garbage.write_bytes(b"\x00\xffgarbage: [unclosed\n" * 64)
    db = root / "books.sqlite"
    SqliteStore(db).close()
    csv = root / "005930.csv"
    rows = ["date,open,high,low,close,volume"]
    for i in range(60):
        close = 10_000 + 10 * ((i * 7) % 23)
        day = f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}"
        rows.append(f"{day},{close},{close + 50},{close - 50},{close},1000")
    csv.write_text("\n".join(rows) + "\n")
    # user strategy files that cannot be loaded (docs/strategies.md), one reason each
    plugins = {
        "boom.py": "def helper():\n    return 1 / 0\n\n\nhelper()\n",
        "syntax.py": "def f(:\n",
        "imports.py": "import no_such_module_for_qts\n",
        "plain.py": "class Plain:\n    pass\n",
        "taken.py": "from qts.strategy import Track\n\n\nclass Taken:\n    name = 'sma_cross'\n"
        "    track = Track.SWING\n\n    def indicators(self):\n        return []\n\n"
        "    def evaluate(self, calc):\n        return []\n",
    }
    for name, text in plugins.items():
        (root / name).write_text(text)
    return {"root": root, "plain": plain, "garbage": garbage, "db": db, "csv": csv}


def bad_strategies(f: dict[str, Path]) -> list[str]:
    """``--strategy`` values that name no usable strategy, in each form the registry takes."""
    root = f["root"]
    return [
        f"{root / 'missing.py'}:Missing",
        f"{root / 'boom.py'}:Boom",
        f"{root / 'syntax.py'}:Syntax",
        f"{root / 'imports.py'}:Imports",
        f"{root / 'plain.py'}:Plain",
        f"{root / 'plain.py'}:Absent",
        f"{root / 'plain.py'}",
        f"{root / 'taken.py'}:Taken",
        f"{f['plain']}:NotPython",
        f"{root}/folder:Cls",
        "no_such_installed_strategy",
    ]


def base_args(path: tuple[str, ...], f: dict[str, Path], n: int) -> dict[str, list[str]]:
    """Valid values for the options a command needs (or that keep an accepted call short)."""
    out = str(f["root"] / f"out{n}")
    db_opts = {"--dsn": [PG], "--schema": [f"qts_cli_prop_{os.getpid()}"]}
    table: dict[tuple[str, ...], dict[str, list[str]]] = {
        ("run",): {"--speed": ["max"], "--for": ["1m"], "--db": [str(f["root"] / f"r{n}.sqlite")]},
        ("backtest",): {"--data": [str(f["csv"])], "--strategy": ["sma_cross"], "--out": [out]},
        ("optimize",): {
            "--data": [str(f["csv"])],
            "--strategy": ["sma_cross"],
            "--space": ["fast=2:3"],
            "--out": [out],
            "--trials": ["1"],
        },
        ("ledger",): {"--db": [str(f["db"])]},
        ("safety", "status"): {"--db": [str(f["db"])]},
        ("safety", "history"): {"--db": [str(f["db"])]},
        ("safety", "approve-recovery"): {
            "--db": [str(f["db"])],
            "--operator": ["op"],
            "--reason": ["test"],
        },
        ("capital", "status"): {"--db": [str(f["db"])]},
        ("capital", "history"): {"--db": [str(f["db"])]},
        ("state", "status"): {"--db": [str(f["db"])]},
        ("state", "history"): {"--db": [str(f["db"])]},
        ("state", "set"): {  # the STATE argument rides as a value-less entry
            "DEFENSIVE": [],
            "--db": [str(f["db"])],
            "--until": [(datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")],
            "--reason": ["test"],
        },
        ("db", "status"): db_opts,
        ("db", "migrate"): db_opts,
        ("db", "downgrade"): {**db_opts, "--to": ["0"], "--yes": []},
        ("db", "maintain"): db_opts,
        ("db", "migrate-from-sheets"): db_opts,
        ("dashboard",): {"--db": [str(f["db"])], "--port": ["0"]},
        ("backup", "create"): {"--db": [str(f["db"])], "--dir": [str(f["root"] / f"bk{n}")]},
        ("backup", "list"): {"--db": [str(f["db"])]},
        ("backup", "restore"): {"--db": [str(f["db"])], "--dir": [str(f["root"] / f"bk{n}")]},
    }
    return {k: list(v) for k, v in table.get(path, {}).items()}


JUNK = st.text(alphabet="abcxyz!?#~", min_size=1, max_size=8).map(lambda s: "%" + s)
NOT_A_NUMBER = st.one_of(JUNK, st.sampled_from(["", "1.5.2", "0x", "--"]))


def bad_values(p: Any, f: dict[str, Path]) -> st.SearchStrategy[str]:
    """Values that are wrong for option ``p`` whatever the other options say."""
    name = p.opts[0]
    ann = p.type_descriptor.annotation
    if ann is bool:
        return st.nothing()  # flags take no value
    if ann is int:
        choices: list[st.SearchStrategy[str]] = [NOT_A_NUMBER, st.just("2.5")]
        if p.min is not None:
            choices.append(st.integers(max_value=p.min - 1).map(str))
        if p.max is not None:
            choices.append(st.integers(min_value=p.max + 1).map(str))
        if name in ("--port", "--ws-port"):
            choices.append(st.sampled_from(["-1", "65536", "99999"]))
        if name == "--seed":
            choices.append(st.integers(max_value=-1).map(str))
        return st.one_of(*choices)
    if ann is float:
        return st.one_of(NOT_A_NUMBER, st.sampled_from(["nan", "inf", "-inf", "0", "-1"]))
    under_file = str(f["plain"] / "x")
    if ann is Path or ann == list[Path]:
        wrong = [under_file, str(f["garbage"])]
        if name == "--out":
            wrong.append(str(f["plain"]))
        return st.sampled_from(wrong)
    if name == "--strategy":
        return st.one_of(JUNK, st.just(""), st.sampled_from(bad_strategies(f)))
    if name in ("--param",):
        return st.one_of(JUNK, st.just("nokey"), st.just("=1"), JUNK.map(lambda s: f"{s}=1"))
    if name == "--space":
        return st.one_of(JUNK, JUNK.map(lambda s: f"fast={s}"), st.just("fast=5:2"))
    if name in ("--format", "--fees"):
        return JUNK
    if name == "--dsn":
        return st.sampled_from(["%nonsense", "postgresql://127.0.0.1:1/none"])
    if name == "--schema":
        return st.sampled_from(["bad schema", "x;drop", "", "1x"])
    return st.one_of(JUNK, st.just(""), st.just("-1"))


OPTIONS = [o for o in options() if o[2].type_descriptor.annotation is not bool]


def test_every_option_has_a_bad_value_generator_or_is_free_text() -> None:
    names = {(*path, name) for path, name, _ in OPTIONS}
    assert names >= FREE_TEXT, FREE_TEXT - names  # the allowlist does not rot
    assert len(OPTIONS) > 40


def run_inprocess(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    old = sys.argv
    sys.argv = ["qts", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    return code, out.getvalue() + err.getvalue()


def run_process(argv: list[str]) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "400"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "qts", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 0, "accepted: still serving after 30 s"
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("path", "name"),
    [(p, n) for p, n, o in OPTIONS if (*p, n) not in FREE_TEXT],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_bad_value_is_refused_in_one_line_naming_the_option(
    path: tuple[str, ...], name: str, data: st.DataObject, files: dict[str, Path]
) -> None:
    param = next(o for p, n, o in OPTIONS if p == path and n == name)
    value = data.draw(bad_values(param, files), label=name)
    n = data.draw(st.integers(0, 10**6), label="n")
    args = base_args(path, files, n)
    args[name] = [value]
    argv = [*path]
    for k, vs in args.items():
        argv += [k, *vs] if not vs else [a for v in vs for a in (k, v)]
    runner: Callable[[list[str]], tuple[int, str]] = (
        run_process if path in SERVES else run_inprocess
    )
    code, output = runner(argv)
    assert code != 0, (argv, output[-2000:])
    assert "Traceback" not in output, (argv, output[-4000:])
    if path in NEEDS_SERVICE:
        return
    flat = " ".join(output.split())
    named = [name, name.lstrip("-"), value] + (["postgres"] if name == "--dsn" else [])
    assert any(n and n in flat for n in named), (argv, output[-2000:])


@pytest.mark.parametrize("path", [("backtest",), ("optimize",), ("run",)], ids=" ".join)
def test_every_unusable_strategy_is_one_line_naming_it(
    path: tuple[str, ...], files: dict[str, Path]
) -> None:
    """Each way a ``--strategy`` can fail to load (missing file or class, not a strategy, an
    import error, a taken name), for every command that takes one: a single ``error:`` line."""
    for n, spec in enumerate(bad_strategies(files)):
        args = {**base_args(path, files, n), "--strategy": [spec]}
        argv = [*path, *(a for k, vs in args.items() for v in vs for a in (k, v))]
        code, output = run_inprocess(argv)
        assert code == 2, (argv, output)
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: --strategy: {spec}: "), output


def test_a_strategy_that_raises_while_running_is_one_line_not_a_traceback(
    files: dict[str, Path],
) -> None:
    """A bug in a user's ``evaluate`` fails those cycles safe (FS030) and is logged once, with
    the user's file and line; the backtest still finishes and counts the failures."""
    strategy = files["root"] / "raises.py"
    strategy.write_text(
        "from qts.strategy import Track\n\n\nclass Raises:\n    name = 'raises'\n"
        "    track = Track.SWING\n\n    def __init__(self, params):\n"
        "        self.params = params\n\n"
        "    def indicators(self):\n        return []\n\n    def evaluate(self, calc):\n"
        "        return {}['missing']\n"
    )
    out = files["root"] / "raises-out"
    args = ["backtest", "--data", str(files["csv"]), "--strategy", f"{strategy}:Raises"]
    code, output = run_process([*args, "--out", str(out)])
    assert code == 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, output
    assert errors[0].endswith(
        f"strategy raises: KeyError: 'missing' (at {strategy}, line 15: return {{}}['missing'])"
    ), errors
    assert "FS030 ×60" in output, output
