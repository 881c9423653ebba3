"""The schema guard: before QTS reads or writes a sheet, its header row must match the registry.

The guard reads the header rows of the sheets about to be used (and the ``_QTS_Schema`` version
rows) in one ``values:batchGet`` and compares them with :data:`~qts.data.sheets.model.REGISTRY`:

- a header that differs is refused, classified as *renamed* (an unknown header stands in its
  place), *moved* (the expected header sits in another column, e.g. after a column was inserted
  or the columns were reordered) or *missing* (the cell is empty);
- a missing sheet is refused;
- the spreadsheet's recorded ``schema_version`` must have the registry's MAJOR;
- columns added to the right of the registered ones are allowed (adding a column is MINOR).

Headers compare after trimming spaces and ignoring case ("qty " is "Qty"). A refusal raises
:class:`SchemaMismatchError` — safety code FS001, which stops Extract — with every problem
naming the sheet, the column letter, the expected header and the header found. The guard only
reads; callers check before they write, so a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qts.core.errors import StorageError
from qts.data.sheets.a1 import a1, column_letter
from qts.data.sheets.model import QTS_SCHEMA, REGISTRY, Layout, Registry, SemVer, SheetSpec
from qts.safety.codes import SafetyCode, lookup

if TYPE_CHECKING:
    from qts.data.sheets.client import SheetsClient

FS001 = "FS001"


@dataclass(frozen=True, slots=True)
class HeaderProblem:
    """One reason a sheet does not match the registry.

    ``kind``: renamed, moved, missing, sheet-missing, version.
    """

    sheet: str
    kind: str
    column: str = ""
    expected: str = ""
    found: str = ""
    note: str = ""

    def __str__(self) -> str:
        if self.kind == "sheet-missing":
            return f"sheet {self.sheet!r} is missing"
        if self.kind == "version":
            return f"{self.sheet}: {self.note}"
        found = repr(self.found) if self.found else "an empty cell"
        text = (
            f"{self.sheet}!{self.column}: expected header {self.expected!r}, found {found} "
            f"({self.kind})"
        )
        return f"{text}; {self.note}" if self.note else text


class SchemaMismatchError(StorageError):
    """The spreadsheet's layout is not the one QTS was built for (FS001: stop Extract)."""

    code = FS001

    def __init__(self, problems: Sequence[HeaderProblem], what: str = "sheets") -> None:
        self.problems = list(problems)
        self.what = what
        shown = "; ".join(str(p) for p in self.problems[:6])
        more = f" (and {len(self.problems) - 6} more)" if len(self.problems) > 6 else ""
        super().__init__(
            f"{FS001} schema mismatch in {what}: {shown}{more}. Nothing was written; restore "
            "the headers (or migrate the registry with a version bump) and restart."
        )

    @property
    def safety_code(self) -> SafetyCode:
        return lookup(FS001)


def _norm(text: Any) -> str:
    return str(text).strip().casefold()


def compare_headers(spec: SheetSpec, found: Sequence[Any]) -> list[HeaderProblem]:
    """Problems of one sheet's header row against its spec (empty: it matches)."""
    if spec.layout is not Layout.TABLE:
        return []
    expected = spec.headers
    got = [str(v) for v in found]
    where = {_norm(h): i for i, h in enumerate(got) if str(h).strip()}
    known = {_norm(h) for h in expected}
    problems: list[HeaderProblem] = []
    for i, header in enumerate(expected):
        cell = got[i] if i < len(got) else ""
        if _norm(cell) == _norm(header):
            continue
        col = f"{column_letter(i + 1)}{spec.header_row}"
        elsewhere = where.get(_norm(header))
        if elsewhere is not None:
            problems.append(
                HeaderProblem(
                    spec.name,
                    "moved",
                    col,
                    header,
                    cell.strip(),
                    f"{header!r} is now in column {column_letter(elsewhere + 1)}",
                )
            )
        elif not cell.strip():
            problems.append(HeaderProblem(spec.name, "missing", col, header, ""))
        elif _norm(cell) in known:
            problems.append(HeaderProblem(spec.name, "moved", col, header, cell.strip()))
        else:
            problems.append(HeaderProblem(spec.name, "renamed", col, header, cell.strip()))
    return problems


def check_version(expected: str, found: str | None) -> list[HeaderProblem]:
    """The recorded schema version must share the registry's MAJOR (None: not recorded)."""
    if found is None:
        return [
            HeaderProblem(
                QTS_SCHEMA.name, "version", note=f"no schema_version recorded (expected {expected})"
            )
        ]
    try:
        have = SemVer.parse(found)
    except ValueError as exc:
        return [HeaderProblem(QTS_SCHEMA.name, "version", note=str(exc))]
    want = SemVer.parse(expected)
    if have.major != want.major:
        return [
            HeaderProblem(
                QTS_SCHEMA.name,
                "version",
                note=(
                    f"schema_version {found} was laid out for MAJOR {have.major}; this QTS "
                    f"expects {expected} (MAJOR {want.major})"
                ),
            )
        ]
    return []


def recorded_version(rows: Sequence[Sequence[Any]]) -> str | None:
    """``schema_version`` from the ``_QTS_Schema`` key/value rows (header row excluded)."""
    for row in rows:
        if len(row) >= 2 and str(row[0]).strip() == "schema_version":
            return str(row[1]).strip()
    return None


def check(
    found: Mapping[str, Sequence[Any] | None],
    registry: Registry = REGISTRY,
    version: str | bool | None = False,
) -> list[HeaderProblem]:
    """Every problem of the header rows in ``found`` (sheet → header row, None if the sheet is
    missing). ``version``: the recorded schema version to check too (``False``: skip)."""
    problems: list[HeaderProblem] = []
    for name, row in found.items():
        spec = registry[name]
        if row is None:
            problems.append(HeaderProblem(name, "sheet-missing"))
        else:
            problems.extend(compare_headers(spec, row))
    if version is not False:
        problems.extend(
            check_version(registry.version, version if isinstance(version, str) else None)
        )
    return problems


@dataclass
class GuardReport:
    """What a passing check saw: the recorded version and columns added beyond the registry."""

    version: str | None
    extra_columns: dict[str, list[str]] = field(default_factory=dict)


def extra_columns(spec: SheetSpec, found: Sequence[Any]) -> list[str]:
    """Headers to the right of the registered ones (allowed: adding a column is MINOR)."""
    return [str(v) for v in found[spec.width :] if str(v).strip()]


def guard(
    client: SheetsClient,
    sheets: Iterable[str],
    registry: Registry = REGISTRY,
    *,
    titles: Iterable[str] | None = None,
    check_recorded_version: bool = True,
) -> GuardReport:
    """Read the header rows of ``sheets`` in one batchGet and refuse any mismatch (FS001).

    ``titles``: the spreadsheet's sheet titles if the caller already has them (else one
    metadata read). Raises :class:`SchemaMismatchError`; reads only.
    """
    names = list(dict.fromkeys(sheets))
    present = set(titles) if titles is not None else {s.title for s in client.metadata().sheets}
    wanted = [n for n in names if n in present]
    ranges = [a1(n, registry[n].header_row, None, registry[n].header_row, None) for n in wanted]
    with_version = check_recorded_version and QTS_SCHEMA.name in present
    if with_version:
        ranges.append(a1(QTS_SCHEMA.name, QTS_SCHEMA.row_start, 1, None, 2))
    values = client.batch_get(ranges) if ranges else []
    found: dict[str, Sequence[Any] | None] = {n: None for n in names if n not in present}
    for name, rows in zip(wanted, values, strict=False):
        found[name] = rows[0] if rows else []
    version: str | bool | None = False
    if check_recorded_version:
        version = recorded_version(values[-1]) if with_version else None
    problems = check(found, registry, version)
    if problems:
        raise SchemaMismatchError(problems)
    extras = {n: extra_columns(registry[n], found[n] or []) for n in wanted}
    return GuardReport(
        version if isinstance(version, str) else None, {k: v for k, v in extras.items() if v}
    )
