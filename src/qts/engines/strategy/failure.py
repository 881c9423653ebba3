"""Saying where a user's strategy failed: the exception and the line of the user's own code it
came from, in one line (a traceback is for QTS's bugs, not for a user's)."""

from __future__ import annotations

import importlib.util
import inspect
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from qts.core.errors import QtsError


class StrategyFailed(QtsError):
    """A strategy's ``evaluate`` or ``indicators`` raised: the cycle fails safe (FS030)."""

    def __init__(self, strategy: Any, exc: Exception) -> None:
        self.strategy = str(getattr(strategy, "name", type(strategy).__name__))
        self.reason = describe(exc, source_roots(type(strategy)))
        super().__init__(f"strategy {self.strategy}: {self.reason}")


def describe(exc: BaseException, roots: list[Path]) -> str:
    """``KeyError: 'x' (at my.py, line 12: x = d["x"])``: the exception and the deepest line
    under ``roots`` (the user's file or package) it passed through, else the deepest line."""
    what = f"{type(exc).__name__}: {exc}"
    frame = _user_frame(exc.__traceback__, roots)
    if frame is None:
        return what
    line = (frame.line or "").strip()
    return f"{what} (at {frame.filename}, line {frame.lineno}" + (f": {line})" if line else ")")


def import_failure(exc: BaseException, roots: list[Path]) -> str:
    """``ZeroDivisionError: division by zero (at my.py, line 12: x = 1 / 0)``: the exception
    and the deepest line of the user's own code (under ``roots``) it passed through."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        text = (exc.text or "").strip()
        where = f"{exc.filename}, line {exc.lineno}" + (f": {text}" if text else "")
        return f"{type(exc).__name__}: {exc.msg} (at {where})"
    if _user_frame(exc.__traceback__, roots) is None:
        return f"failed to import: {what}"
    return describe(exc, roots)


def _user_frame(tb: TracebackType | None, roots: list[Path]) -> traceback.FrameSummary | None:
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith("<")]
    for frame in reversed(frames):
        if any(_under(Path(frame.filename), root) for root in roots):
            return frame
    return frames[-1] if frames else None


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def package_dir(module: str) -> Path | None:
    top = module.partition(".")[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None or found.origin is None:
        return None
    origin = Path(found.origin).resolve()
    return origin.parent if origin.name == "__init__.py" else origin


def source_roots(cls: type[Any]) -> list[Path]:
    """Where a strategy class's own code lives: its file, or its top package's folder."""
    module = inspect.getmodule(cls)
    if module is None:
        return []
    if module.__name__.startswith("qts_user_strategy_") and getattr(module, "__file__", None):
        return [Path(str(module.__file__)).resolve()]
    found = package_dir(module.__name__)
    return [found] if found else []
