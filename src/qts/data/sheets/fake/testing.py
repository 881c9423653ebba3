"""Opening SheetsStores on a fake, for test suites that cannot take a fixture.

The storage contract suite opens stores through ``StoreKind.open(path)`` only; this module keeps
one fake per process for it (started on first use on an ephemeral loopback port, stopped at
exit) and maps each store location to its own spreadsheet, so reopening a location sees what
the last store there wrote. The fake runs without quotas here: the contract suite tests the
port, and the quota and fault behaviour has its own tests.
"""

from __future__ import annotations

import atexit
import hashlib
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials
from google.oauth2 import service_account

from qts.data.sheets.client import SCOPES, RetryPolicy, SheetsClient
from qts.data.sheets.fake.credentials import write_service_account_file
from qts.data.sheets.fake.server import FakeSheetsOptions, FakeSheetsServer
from qts.data.sheets.store import SheetsStore

_lock = threading.Lock()
_shared: tuple[FakeSheetsServer, Path] | None = None

FAST_RETRY = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05)


def shared_fake() -> tuple[FakeSheetsServer, Path]:
    """The process's fake and a service-account key file for it."""
    global _shared
    with _lock:
        if _shared is None:
            fake = FakeSheetsServer(FakeSheetsOptions(read_quota=None, write_quota=None)).start()
            folder = Path(tempfile.mkdtemp(prefix="qts-sheets-fake-"))
            key_file = write_service_account_file(fake, folder / "service-account.json")
            atexit.register(fake.stop)
            _shared = (fake, key_file)
        return _shared


@lru_cache(maxsize=8)
def _credentials(key_file: Path) -> Credentials:
    """Loaded once per key file, as a long-running process would: parsing an RSA key costs
    tens of milliseconds, and the token it fetched stays valid for the next store."""
    creds: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key_file), scopes=list(SCOPES)
    )
    return creds


def client_for(
    fake: FakeSheetsServer, key_file: Path, spreadsheet_key: str, **kwargs: Any
) -> SheetsClient:
    """A client of ``fake`` authenticated through the service-account flow, unpaced."""
    options: dict[str, Any] = {
        "api_base": fake.base_url,
        "retry": FAST_RETRY,
        "reads_per_minute": None,
        "writes_per_minute": None,
    }
    options.update(kwargs)
    return SheetsClient(spreadsheet_key, _credentials(key_file), **options)


def open_store_at(location: Path, **kwargs: Any) -> SheetsStore:
    """A SheetsStore on the shared fake's spreadsheet for ``location`` (made on first use)."""
    fake, key_file = shared_fake()
    key = "qts-" + hashlib.sha256(str(location).encode()).hexdigest()[:32]
    with _lock:
        if not fake.has_spreadsheet(key):
            fake.create_spreadsheet(key, title=f"QTS {location.name}")
    return SheetsStore(client_for(fake, key_file, key), close_client=True, **kwargs)
