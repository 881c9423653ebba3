"""The hybrid store's modes (``DATA_SOURCE_MODE``) and the targets each one writes and reads."""

from __future__ import annotations

from enum import StrEnum

SHEETS = "sheets"
DB = "db"


class DataSourceMode(StrEnum):
    SHEETS_ONLY = "SHEETS_ONLY"
    DUAL_WRITE = "DUAL_WRITE"
    DB_PRIMARY = "DB_PRIMARY"
    DB_ONLY = "DB_ONLY"

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets this mode writes, in the order reads prefer them."""
        return _READ_ORDER[self]


_READ_ORDER: dict[DataSourceMode, tuple[str, ...]] = {
    DataSourceMode.SHEETS_ONLY: (SHEETS,),
    DataSourceMode.DUAL_WRITE: (SHEETS, DB),
    DataSourceMode.DB_PRIMARY: (DB, SHEETS),
    DataSourceMode.DB_ONLY: (DB,),
}
