"""Loading a user's strategy class from a file or an installed package's entry point.

Whatever goes wrong is the user's input, not a QTS bug, so it becomes one line naming the source
and the reason; an exception raised while the user's module runs is reported with the line of
the user's own code it came from, never with a Python traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType, TracebackType

from qts.core.errors import ConfigError

ENTRY_POINT_GROUP = "qts.strategies"

_modules: dict[Path, ModuleType] = {}  # a file is executed once per process


def is_path_spec(spec: str) -> bool:
    """``path/to/file.py:ClassName`` (or a bare ``file.py``) rather than a registered name."""
    head = spec.rpartition(":")[0] if ":" in spec else spec
    return head.endswith(".py") or spec.endswith(".py") or "/" in spec or "\\" in spec


def split_path_spec(spec: str, source: str) -> tuple[Path, str]:
    path_text, sep, cls = spec.rpartition(":")
    if not sep or not path_text.endswith(".py") or "/" in cls or "\\" in cls:
        path_text, cls = spec, ""
    path = Path(path_text).expanduser()
    if path.suffix != ".py":
        raise ConfigError(source, spec, "expected path/to/file.py:ClassName")
    if not path.is_file():
        reason = "is not a file" if path.exists() else "file not found"
        raise ConfigError(source, spec, f"{path}: {reason}")
    return path.resolve(), cls


def load_file(path: Path, spec: str, source: str) -> ModuleType:
    """Execute ``path`` as a module of its own (once), under a name no import can collide with."""
    if path in _modules:
        return _modules[path]
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"qts_user_strategy_{path.stem if path.stem.isidentifier() else 'file'}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(source, spec, f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt, SystemExit: not an import error
        raise ConfigError(source, spec, import_failure(exc, [path])) from None
    _modules[path] = module
    return module


def load_entry_point(ep: EntryPoint, source: str) -> object:
    try:
        return ep.load()
    except Exception as exc:
        dist = ep.dist.name if ep.dist is not None else "an installed package"
        where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP}, from {dist})"
        package = _package_dir(ep.module)
        raise ConfigError(
            source, ep.name, f"{where}: {import_failure(exc, [package] if package else [])}"
        ) from None


def installed() -> dict[str, EntryPoint]:
    """The strategies installed packages register under the ``qts.strategies`` group."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def import_failure(exc: BaseException, roots: list[Path]) -> str:
    """``ZeroDivisionError: division by zero (at my.py, line 12: x = 1 / 0)``: the exception
    and the deepest line of the user's own code (under ``roots``) it passed through."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        text = (exc.text or "").strip()
        where = f"{exc.filename}, line {exc.lineno}" + (f": {text}" if text else "")
        return f"{type(exc).__name__}: {exc.msg} (at {where})"
    frame = _user_frame(exc.__traceback__, roots)
    if frame is None:
        return f"failed to import: {what}"
    line = (frame.line or "").strip()
    return f"{what} (at {frame.filename}, line {frame.lineno}" + (f": {line})" if line else ")")


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


def _package_dir(module: str) -> Path | None:
    top = module.partition(".")[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None or found.origin is None:
        return None
    origin = Path(found.origin).resolve()
    return origin.parent if origin.name == "__init__.py" else origin


def classes_in(module: ModuleType) -> list[str]:
    """Classes defined in ``module`` (not imported into it) that look like strategies."""
    return [
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and obj.__module__ == module.__name__
        and callable(getattr(obj, "evaluate", None))
    ]
