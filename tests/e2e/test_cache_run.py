"""`qts run` on Redis, end to end (issue NG-4 acceptance).

* A paced run against the machine's Redis (its own key prefix) reports a hit rate of at least
  99 % for price and position reads, read from the metrics line the run prints.
* Stopping Redis mid-run (a private redis-server) keeps trading from the store, raises FS120,
  loses no order or fill (the ledger equals that of a run on the in-process cache), and the cache
  is used again once Redis is back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import redis

from qts.cache.devserver import RedisServer

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
PACED = ["run", "--seed", "7", "--speed", "600", "--for", "150m"]


def config(tmp_path: Path, name: str, backend: str, url: str = "", prefix: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    lines = ["cache:", f"  backend: {backend}"]
    if url:
        lines.append(f"  url: {url}")
    if prefix:
        lines.append(f'  prefix: "{prefix}"')
    lines += ["dashboard:", "  port: 0"]  # parallel runs never fight over a port
    path.write_text("\n".join(lines) + "\n")
    return path


def metrics(out: str) -> dict[str, Any]:
    line = next(x for x in out.splitlines() if x.startswith("cache metrics "))
    report: dict[str, Any] = json.loads(line.removeprefix("cache metrics "))
    return report


def ledger(db: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "qts", "ledger", "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def test_paced_run_on_redis_hits_the_cache_for_prices_and_positions(tmp_path: Path) -> None:
    prefix = f"qts-e2e:{uuid.uuid4().hex[:12]}:"
    cfg = config(tmp_path, "redis", "redis", "redis://127.0.0.1:6379/0", prefix)
    db = tmp_path / "run.sqlite"
    proc = subprocess.run(
        [sys.executable, "-m", "qts", *PACED, "--db", str(db), "-c", str(cfg)],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
        timeout=600,
    )
    try:
        assert proc.returncode == 0, proc.stderr
        report = metrics(proc.stdout)
        assert report["backend"] == "redis"
        for family in ("price", "pos"):
            fam = report[family]
            assert fam["reads"] >= 20, fam
            assert fam["hit_rate"] >= 0.99, fam
            assert fam["errors"] == 0
        assert report["breaker_opened"] == 0
        assert "FILL" in proc.stdout
    finally:
        r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        names = list(r.scan_iter(match=prefix.replace("*", r"\*") + "*"))
        if names:
            r.delete(*names)
        r.close()


def test_redis_stopped_mid_run_keeps_trading_from_the_store_and_recovers(
    tmp_path: Path,
) -> None:
    reference = tmp_path / "memory.sqlite"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qts",
            *PACED,
            "--db",
            str(reference),
            "-c",
            str(config(tmp_path, "memory", "memory")),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    expected = ledger(reference)
    assert len(expected) >= 5

    server = RedisServer()
    server.start()
    prefix = "qts-outage:"
    db = tmp_path / "outage.sqlite"
    cfg = config(tmp_path, "own", "redis", server.url, prefix)
    child = subprocess.Popen(
        [sys.executable, "-m", "qts", *PACED, "--db", str(db), "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    lines: list[str] = []
    events = {"fill": threading.Event(), "alert": threading.Event()}

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if " FILL " in line:
                events["fill"].set()
            if "FS120" in line:
                events["alert"].set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert events["fill"].wait(300), "".join(lines)
        server.stop()  # mid-run, after the first fill
        assert events["alert"].wait(300), "no FS120 alert:\n" + "".join(lines)
        server.start()  # Redis is back (empty)
        assert child.wait(600) == 0, "".join(lines)
        reader.join(10)
        out = "".join(lines)
        report = metrics(out)
        assert report["breaker_opened"] >= 1
        assert report["breaker_closed"] >= 1, report
        # trading went on from the store: the same orders and fills as the in-process run
        assert ledger(db) == expected
        # and the cache answered again once Redis was back
        assert report["hits_after_recovery"] > 0, report
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        server.close()
