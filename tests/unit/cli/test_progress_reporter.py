"""The progress reporter on a pipe: when it prints a line and what the line says (a clock the test
moves, no sleeps); the bar itself is tested on a real pseudo-terminal in tests/e2e."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from qts.cli.progress import Every, ProgressReporter, format_seconds
from qts.core.errors import InputError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pipe() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_a_line_every_n_seconds_and_a_last_one_at_100_percent() -> None:
    console, out = pipe()
    clock = Clock()
    with ProgressReporter(
        "run", total=1_000, unit="cycles", console=console, every=Every(seconds=5), clock=clock
    ) as bar:
        for done in range(100, 1_001, 100):
            clock.now += 2
            bar.update(done)
    assert out.getvalue().splitlines() == [
        "run: 300/1,000 cycles (30%), 6.0 s, ETA 14 s",
        "run: 600/1,000 cycles (60%), 12 s, ETA 8.0 s",
        "run: 900/1,000 cycles (90%), 18 s, ETA 2.0 s",
        "run: 1,000/1,000 cycles (100%), 20 s",
    ]


def test_every_n_items_ignores_the_clock() -> None:
    console, out = pipe()
    with ProgressReporter("load", total=10, console=console, every=Every.parse("4")) as bar:
        for done in range(1, 11):
            bar.update(done)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "load: 4/10 items (40%)",
        "load: 8/10 items (80%)",
        "load: 10/10 items (100%)",
    ]


def test_bytes_show_as_mb_and_an_unknown_total_has_no_percentage() -> None:
    console, out = pipe()
    with ProgressReporter("read", scale="bytes", console=console, every=Every(items=1)) as bar:
        bar.update(3 * 2**20)
    assert out.getvalue().splitlines()[-1].startswith("read: 3.0 MB, ")


def test_a_failed_job_gets_no_last_line() -> None:
    console, out = pipe()
    with pytest.raises(RuntimeError), ProgressReporter("x", total=5, console=console):
        raise RuntimeError("boom")
    assert out.getvalue() == ""


def test_notes_follow_the_count() -> None:
    console, out = pipe()
    with ProgressReporter("sweep", total=4, unit="trials", console=console) as bar:
        bar.update(4, note="best 1.5")
    assert out.getvalue().strip() == "sweep: 4/4 trials (100%), 0.0 s, best 1.5"


@pytest.mark.parametrize("text", ["", "abc", "-3", "0", "1.5", "-2s", "nans"])
def test_a_bad_setting_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(InputError, match="QTS_PROGRESS_EVERY"):
        Every.parse(text)


def test_durations_are_read_by_people() -> None:
    assert format_seconds(4.25) == "4.2 s"
    assert format_seconds(200) == "3 min 20 s"
    assert format_seconds(7_500) == "2 h 5 min"
    assert format_seconds(4_400_000) == "50 d 22 h"
