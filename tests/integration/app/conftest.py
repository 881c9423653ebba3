"""Live runs keep their books in the account's default file under ``var/`` of the working
directory; each test works in a folder of its own so no two tests share books."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
