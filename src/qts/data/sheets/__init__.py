"""Google Sheets: the 9-sheet model, the schema guard, a gspread client, and SheetsStore.

See docs/sheets.md. ``qts.data.sheets.fake`` is a local Sheets API fake for tests.
"""

from qts.data.sheets.bootstrap import bootstrap_spreadsheet
from qts.data.sheets.client import (
    RetryPolicy,
    SheetsAuthError,
    SheetsClient,
    SheetsError,
    SheetsNotFoundError,
    SheetsPermissionError,
    SheetsRateLimitError,
)
from qts.data.sheets.guard import HeaderProblem, SchemaMismatchError, guard
from qts.data.sheets.model import REGISTRY, SCHEMA_VERSION, Registry, SheetSpec
from qts.data.sheets.store import SheetsStore

__all__ = [
    "REGISTRY",
    "SCHEMA_VERSION",
    "HeaderProblem",
    "Registry",
    "RetryPolicy",
    "SchemaMismatchError",
    "SheetSpec",
    "SheetsAuthError",
    "SheetsClient",
    "SheetsError",
    "SheetsNotFoundError",
    "SheetsPermissionError",
    "SheetsRateLimitError",
    "SheetsStore",
    "bootstrap_spreadsheet",
    "guard",
]
