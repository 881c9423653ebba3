"""Progress of long work on stderr, the same way for every command.

On a terminal: a bar with the count, the elapsed time and an ETA, redrawn in place and erased at
the end. On a pipe or a file: one plain line every few seconds and one at the end (``100%``), so a
log collector or CI shows that the job moves without a screenful of carriage returns.

While a bar is shown, log records that would go to stderr are printed *above* it through the
bar's console, so a warning is one intact line instead of a line cut by the next redraw (Python
``warnings`` go through rich's stderr redirection the same way).

How often a pipe gets a line: every 5 seconds, or what ``QTS_PROGRESS_EVERY`` says: ``10s`` for
a time, a bare number such as ``5000`` for every that many items (what tests use: no clock).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from rich.console import Console
from rich.text import Text

from qts.core.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

ENV_EVERY = "QTS_PROGRESS_EVERY"
Clock = Callable[[], float]
Scale = Literal["count", "bytes"]


@dataclass(frozen=True, slots=True)
class Every:
    """When a pipe gets a line: after ``seconds`` of clock time, or after ``items`` more items."""

    seconds: float | None = 5.0
    items: int | None = None

    @classmethod
    def parse(cls, text: str) -> Every:
        """``10s`` (seconds) or ``5000`` (items); refused in one line naming the variable."""
        raw = text.strip().lower()
        try:
            if raw.endswith("s"):
                seconds = float(raw[:-1])
                if math.isfinite(seconds) and seconds >= 0:
                    return cls(seconds=seconds)
            else:
                items = int(raw)
                if items > 0:
                    return cls(seconds=None, items=items)
        except ValueError:
            pass
        raise InputError(ENV_EVERY, text, "expected seconds (10s) or an item count (500)")

    @classmethod
    def from_env(cls) -> Every:
        text = os.environ.get(ENV_EVERY)
        return cls() if not text else cls.parse(text)


def format_seconds(seconds: float) -> str:
    """``2 h 5 min``, ``3 min 20 s``, ``4.2 s``: the two largest units, for elapsed and ETA."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    total = round(seconds)
    parts: list[str] = []
    for name, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if total >= size or (name == "s" and not parts):
            parts.append(f"{total // size} {name}")
            total %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _amount(n: int, scale: Scale) -> str:
    return f"{n / 2**20:,.1f}" if scale == "bytes" else f"{n:,}"


class ProgressReporter:
    """Reports ``done`` out of ``total`` units of one job; use as a context manager.

    ``console`` defaults to stderr; ``clock`` and ``every`` exist so tests need no sleeps.
    ``scale="bytes"`` shows byte counts as MB.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "items",
        scale: Scale = "count",
        console: Console | None = None,
        every: Every | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.label, self.unit, self.scale = label, unit, scale
        self.total = total
        self.done = 0
        self.note = ""
        self._console = console if console is not None else Console(stderr=True)
        self._every = every if every is not None else Every.from_env()
        self._clock = clock
        self._started = 0.0
        self._last_line_at = 0.0
        self._last_line_done = 0
        self._last_refresh = -math.inf
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._moved: list[tuple[logging.Handler, logging.Logger, logging.Handler]] = []
        self._running = False

    @property
    def on_terminal(self) -> bool:
        return self._console.is_terminal and not self._console.is_dumb_terminal

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> ProgressReporter:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(finished=kind is None)

    def start(self) -> None:
        self._started = self._last_line_at = self._clock()
        self._running = True
        if not self.on_terminal:
            return
        # imported here: a pipe, a file or a test never draws a bar (7 ms of start-up)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[eta]}"),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
            get_time=self._clock,
        )
        self._task = self._bar.add_task(
            self.label, total=self.total, count=self._count_text(), eta=self._eta_label()
        )
        self._bar.start()
        self._route_logs(self._bar.console)

    def stop(self, finished: bool = True) -> None:
        """End the report: erase the bar, or on a pipe print the last line (when finished)."""
        if not self._running:
            return
        self._running = False
        if self._bar is not None:
            self._restore_logs()
            self._bar.stop()
            self._bar = None
        elif finished:
            self._line(final=True)

    # -- reporting ----------------------------------------------------------------------------

    def update(self, done: int, total: int | None = None, note: str | None = None) -> None:
        """``done`` units so far (and the total, when it becomes known or changes); ``note`` is
        shown after the count (e.g. the best value so far)."""
        self.done = done
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        if not self._running:
            return
        now = self._clock()
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=done,
                total=self.total,
                count=self._count_text(),
                eta=self._eta_label(),
            )
            if now - self._last_refresh >= 0.1 or done == self.total:
                self._last_refresh = now
                self._bar.refresh()
            return
        if self._due(now, done):
            self._last_line_at, self._last_line_done = now, done
            self._line(final=False)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def _due(self, now: float, done: int) -> bool:
        if self.total is not None and done >= self.total:
            return False  # the last line says it
        every = self._every
        if every.items is not None:
            return done // every.items > self._last_line_done // every.items
        return every.seconds is not None and now - self._last_line_at >= every.seconds

    def _eta_label(self) -> str:
        return "ETA" if self.total is not None else ""

    def _count_text(self, note: bool = True) -> str:
        done = _amount(self.done, self.scale)
        unit = "MB" if self.scale == "bytes" else self.unit
        text = f"{done} {unit}"
        if self.total is not None:
            text = f"{done}/{_amount(self.total, self.scale)} {unit}"
        return f"{text}, {self.note}" if note and self.note else text

    def _line(self, final: bool) -> None:
        elapsed = self._clock() - self._started
        text = f"{self.label}: {self._count_text(note=False)}"
        if self.total:
            share = min(self.done / self.total, 1.0)
            text += f" ({math.floor(share * 100):d}%)"
        text += f", {format_seconds(elapsed)}"
        if not final and self.total and 0 < self.done < self.total and elapsed > 0:
            text += f", ETA {format_seconds((self.total - self.done) * elapsed / self.done)}"
        if self.note:
            text += f", {self.note}"
        self._console.print(Text(text), soft_wrap=True, highlight=False)

    # -- log records above the bar -----------------------------------------------------------

    def _route_logs(self, console: Console) -> None:
        """Swap every handler that writes to this process's stderr/stdout for one that prints
        through the bar's console (same level, filters and format); put them back on stop."""
        for logger in _loggers():
            for handler in list(logger.handlers):
                if isinstance(handler, logging.StreamHandler) and _is_std(handler.stream):
                    above = _AboveBar(console, handler)
                    logger.removeHandler(handler)
                    logger.addHandler(above)
                    self._moved.append((handler, logger, above))

    def _restore_logs(self) -> None:
        for handler, logger, above in reversed(self._moved):
            logger.removeHandler(above)
            logger.addHandler(handler)
        self._moved.clear()


def _loggers() -> Iterator[logging.Logger]:
    yield logging.getLogger()
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            yield logger


def _is_std(stream: TextIO | object) -> bool:
    return stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


class _AboveBar(logging.Handler):
    """Prints what ``original`` would have written, as one line above the live bar."""

    def __init__(self, console: Console, original: logging.Handler) -> None:
        super().__init__(original.level)
        self._console = console
        self.setFormatter(original.formatter or logging.Formatter())
        self.filters = list(original.filters)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self._console.print(Text(message), soft_wrap=True, highlight=False, markup=False)
        except Exception:  # logging must never break the job it reports on
            self.handleError(record)
