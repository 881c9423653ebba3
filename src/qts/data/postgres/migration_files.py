"""The numbered SQL migrations shipped in ``migrations/`` and how to find the one for a mode.

A migration is ``NNNN_name.up.sql`` and ``NNNN_name.down.sql`` when both storage modes share it,
or ``NNNN_name.plain.up.sql`` / ``NNNN_name.timescale.up.sql`` (and their ``.down.sql``) when
TimescaleDB changes it. Every version exists for both modes, so a schema can be migrated in
either. Files are read as package data, so an installed wheel carries them.

Never edit a released migration: the applied script's checksum is recorded, and a schema whose
recorded checksum differs from the shipped file is refused. Append a new migration instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class Mode(StrEnum):
    """How time series are stored: TimescaleDB hypertables, or native partitioning."""

    PLAIN = "plain"
    TIMESCALE = "timescale"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    mode: Mode
    up: str
    down: str

    @property
    def checksum(self) -> str:
        """sha256 of the up script, recorded when applied."""
        return hashlib.sha256(self.up.encode()).hexdigest()


_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(plain|timescale))?\.(up|down)\.sql$")


@cache
def _files() -> dict[tuple[int, str, str | None, str], str]:
    """Every migration file: (version, name, mode or None, direction) -> SQL text."""
    out: dict[tuple[int, str, str | None, str], str] = {}
    folder = resources.files("qts.data.postgres").joinpath("migrations")
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        version, name, mode, direction = match.groups()
        out[(int(version), name, mode, direction)] = entry.read_text(encoding="utf-8")
    return out


@cache
def migrations(mode: Mode) -> tuple[Migration, ...]:
    """The migrations of ``mode`` in version order; raises if the shipped set has a hole."""
    files = _files()
    versions = sorted({key[0] for key in files})
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"postgres migrations: versions {versions} are not 1..n")
    out: list[Migration] = []
    for version in versions:
        names = {key[1] for key in files if key[0] == version}
        if len(names) != 1:
            raise RuntimeError(f"postgres migrations: version {version} has names {names}")
        (name,) = names

        def pick(direction: str, version: int = version, name: str = name) -> str:
            for key in ((version, name, str(mode), direction), (version, name, None, direction)):
                if key in files:
                    return files[key]
            raise RuntimeError(
                f"postgres migrations: {version:04d}_{name} has no {direction} script for {mode}"
            )

        out.append(Migration(version, name, mode, pick("up"), pick("down")))
    return tuple(out)


def latest_version() -> int:
    return len(migrations(Mode.PLAIN))
