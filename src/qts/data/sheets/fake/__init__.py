"""A local Google Sheets API v4 fake that gspread 6.2.1 talks to unchanged (tests, demos)."""

from qts.data.sheets.fake.credentials import service_account_info, write_service_account_file
from qts.data.sheets.fake.server import FakeSheetsOptions, FakeSheetsServer, Fault, Stats

__all__ = [
    "FakeSheetsOptions",
    "FakeSheetsServer",
    "Fault",
    "Stats",
    "service_account_info",
    "write_service_account_file",
]
