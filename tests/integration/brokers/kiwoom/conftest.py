"""Fixtures: a fake Kiwoom server per test, on 127.0.0.1 and an ephemeral port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kiwoom_kit import Harness, start_harness


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = start_harness()
    yield harness
    harness.close()
