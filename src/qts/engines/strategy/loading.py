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
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from qts.core.errors import ConfigError
from qts.engines.strategy.failure import import_failure, package_dir

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
        package = package_dir(ep.module)
        raise ConfigError(
            source, ep.name, f"{where}: {import_failure(exc, [package] if package else [])}"
        ) from None


def installed() -> dict[str, EntryPoint]:
    """The strategies installed packages register under the ``qts.strategies`` group."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def classes_in(module: ModuleType) -> list[str]:
    """Classes defined in ``module`` (not imported into it) that look like strategies."""
    return [
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and obj.__module__ == module.__name__
        and callable(getattr(obj, "evaluate", None))
    ]
