"""The client's batching, retries (429, 5xx, Retry-After), pacing and secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from qts.data.sheets.client import (
    Pacer,
    RetryPolicy,
    SheetsAuthError,
    SheetsClient,
    SheetsError,
    SheetsRateLimitError,
)
from qts.data.sheets.fake import FakeSheetsServer, Fault


@pytest.mark.parametrize(
    "fake_options", [{"write_quota": 3, "read_quota": 3, "quota_window_s": 0.1}], indirect=True
)
def test_the_per_minute_quota_trips_and_every_write_still_lands_once(
    fake: FakeSheetsServer, connect: Callable[..., SheetsClient]
) -> None:
    client = connect(retry=RetryPolicy(attempts=10, base_delay_s=0.02, max_delay_s=0.1))
    for i in range(8):
        client.batch_update([(f"Sheet1!A{i + 1}", [[f"row {i}"]])])
    assert fake.stats.throttled > 0  # the quota did trip
    assert client.stats.throttled == fake.stats.throttled
    assert fake.stats.writes == 8  # each write applied exactly once
    assert client.batch_get(["Sheet1"]) == [[[f"row {i}"] for i in range(8)]]


def test_a_429_burst_is_retried_with_backoff_and_retry_after_is_honoured(
    fake: FakeSheetsServer, connect: Callable[..., SheetsClient]
) -> None:
    waits: list[float] = []
    client = connect(
        sleep=waits.append,
        rng=lambda: 0.0,
        retry=RetryPolicy(attempts=5, base_delay_s=0.1, max_delay_s=10.0),
    )
    fake.inject(Fault(429, times=2, kind="write"))
    fake.inject(Fault(429, times=1, kind="write", retry_after_s=7.0))
    client.batch_update([("Sheet1!A1", [["x"]])])
    # exponential with jitter factor 0.5 (rng 0): 0.05, 0.1, then Retry-After's 7 s wins
    assert waits == [0.05, 0.1, 7.0]
    assert client.stats.retries == 3
    assert fake.stats.writes == 1


def test_a_5xx_after_the_write_applied_is_retried_without_duplicating_it(
    fake: FakeSheetsServer, client: SheetsClient
) -> None:
    fake.inject(Fault(503, times=2, kind="write", after_apply=True))
    client.batch_update([("Sheet1!A1", [["a", 1]]), ("Sheet1!A2", [["b", 2]])])
    assert client.batch_get(["Sheet1"]) == [[["a", "1"], ["b", "2"]]]
    assert client.stats.retries == 2


def test_append_is_not_retried_after_an_ambiguous_failure(
    fake: FakeSheetsServer, client: SheetsClient
) -> None:
    """Why the store writes fixed ranges: an append retried after a 503 would add the row twice."""
    fake.inject(Fault(503, times=1, kind="write", after_apply=True))
    with pytest.raises(SheetsError, match="HTTP 503"):
        client.append("Sheet1!A1", [["once"]])
    assert client.batch_get(["Sheet1"]) == [[["once"]]]
    fake.inject(Fault(429, times=1, kind="write"))  # refused before applying: safe to retry
    client.append("Sheet1!A1", [["twice"]])
    assert client.batch_get(["Sheet1"]) == [[["once"], ["twice"]]]


def test_retries_run_out_with_a_typed_error(fake: FakeSheetsServer, client: SheetsClient) -> None:
    fake.inject(Fault(429, times=50, kind="read"))
    with pytest.raises(SheetsRateLimitError, match=r"HTTP 429: Quota exceeded .*after 6 tries"):
        client.batch_get(["Sheet1"])
    fake.clear_faults()
    fake.inject(Fault(500, times=50))
    with pytest.raises(SheetsError, match="HTTP 500: Internal error encountered"):
        client.metadata()
    assert fake.stats.writes == 0


def test_the_pacer_keeps_under_the_quota_instead_of_running_into_it() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    pacer = Pacer(60, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pacer.acquire()
    assert waits == [1.0, 1.0]  # a burst of 2, then one a second
    now[0] += 10
    pacer.drain()  # a 429 empties the bucket
    pacer.acquire()
    assert waits[-1] == 1.0


def test_a_paced_client_spaces_its_requests(
    fake: FakeSheetsServer, connect: Callable[..., SheetsClient]
) -> None:
    waits: list[float] = []
    client = connect(writes_per_minute=120, sleep=waits.append)
    client._pacers["write"].tokens = 1.0  # one left in the bucket
    client.batch_update([("Sheet1!A1", [["a"]])])
    client.batch_update([("Sheet1!A2", [["b"]])])
    assert len(waits) == 1 and 0.4 < waits[0] <= 0.5  # 120/min: one every half second
    assert fake.stats.writes == 2


def test_key_files_and_tokens_never_reach_messages_or_logs(
    fake: FakeSheetsServer,
    key_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    connect: Callable[..., SheetsClient],
) -> None:
    info = json.loads(key_file.read_text())
    key_body = info["private_key"].splitlines()[1:-1]
    info["private_key"] = "\n".join(
        ["-----BEGIN PRIVATE KEY-----", *key_body[:5], "-----END PRIVATE KEY-----"]
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(info))
    with pytest.raises(SheetsAuthError) as err:
        SheetsClient.from_service_account_file(broken, "k", api_base=fake.base_url)
    assert str(broken) in str(err.value)
    assert "PRIVATE" not in str(err.value) and key_body[2] not in str(err.value)
    with pytest.raises(SheetsAuthError, match="No such file"):
        SheetsClient.from_service_account_file(tmp_path / "absent.json", "k")
    with caplog.at_level(logging.DEBUG):
        client = connect()
        fake.inject(Fault(503, times=2))
        client.metadata()
    logged = caplog.text
    assert "retry 1/5" in logged
    tokens = [t for t in fake.call(lambda: list(fake._tokens))]
    assert tokens and not any(t in logged for t in tokens)
    assert "PRIVATE KEY" not in logged


def test_from_env_names_what_is_missing(fake: FakeSheetsServer, key_file: Path) -> None:
    with pytest.raises(SheetsAuthError, match="GOOGLE_SHEET_KEY, GOOGLE_CREDENTIALS_FILE"):
        SheetsClient.from_env({})
    key = fake.create_spreadsheet(title="from env")
    env = {
        "GOOGLE_SHEET_KEY": key,
        "GOOGLE_CREDENTIALS_FILE": str(key_file),
        "QTS_SHEETS_API_BASE": fake.base_url,
    }
    with SheetsClient.from_env(env) as client:
        assert client.metadata().title == "from env"
