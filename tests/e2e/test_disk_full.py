"""Disk full during ``qts run``, on a real small filesystem: whichever write the disk refuses,
the run stops with one clear line (no traceback), and once space is freed the next start resumes
to the very ledger of an undisturbed run, sending nothing twice.

A tmpfs of a few MB is mounted under the test's temp dir and filled with a filler file so that
only ``free`` KB remain; sweeping ``free`` across the run's whole footprint makes the disk run
out at a different write each time (books, their WAL, the venue journal, a checkpoint). The
stride is ``QTS_DISK_FULL_STRIDE_KB`` (default 400; 4 = every page, i.e. every write index).
Needs root for ``mount``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from cli_run import run_qts

RUN = ["run", "--seed", "7", "--speed", "max", "--for", "2h"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
FS_KB = 8 * 1024
STRIDE_KB = int(os.environ.get("QTS_DISK_FULL_STRIDE_KB", "400"))
FREE_KB = list(range(0, 2400, STRIDE_KB))


qts = partial(run_qts, env=ENV)


def ledger(db: Path) -> list[dict[str, object]]:
    proc = qts("ledger", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


def venue_orders(db: Path) -> list[str]:
    with sqlite3.connect(f"{db}.venue") as conn:
        return [r[0] for r in conn.execute("SELECT client_order_id FROM orders")]


def venue_fills(db: Path) -> list[str]:
    with sqlite3.connect(f"{db}.venue") as conn:
        return [r[0] for r in conn.execute("SELECT fill_id FROM fills")]


def _mount_allowed() -> bool:
    return sys.platform == "linux" and os.geteuid() == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_KB}k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_up(mnt: Path, free_kb: int) -> Path:
    """Leave exactly ``free_kb`` KB available on ``mnt``."""
    filler = mnt / "filler"
    avail = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
    with filler.open("wb") as f:
        os.posix_fallocate(f.fileno(), 0, avail - free_kb * 1024)
    st = os.statvfs(mnt)
    assert st.f_bavail * st.f_frsize == free_kb * 1024
    return filler


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], int]:
    db = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    proc = qts(*RUN, "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    rows = ledger(db)
    assert len(rows) >= 5  # the window holds fills, so the sweep hits fill bookings
    return rows, len(venue_orders(db))


@pytest.mark.skipif(not _mount_allowed(), reason="mounting a small tmpfs needs root on Linux")
def test_disk_full_at_every_write_leaves_books_that_resume(
    small_fs: Path, reference: tuple[list[dict[str, object]], int]
) -> None:
    expected, _ = reference
    assert expected
    stopped = 0
    for free in FREE_KB:
        db = small_fs / f"free{free}" / "run.sqlite"
        db.parent.mkdir()
        filler = fill_up(small_fs, free)
        first = qts(*RUN, "--db", str(db))
        out = first.stdout + first.stderr
        assert "Traceback" not in out, (free, out[-3000:])
        if first.returncode != 0:
            stopped += 1
            last = first.stderr.strip().splitlines()[-1]
            assert last.startswith("error: "), (free, last)
            assert "full" in last or "No space" in last, (free, last)
        filler.unlink()
        second = qts(*RUN, "--db", str(db))
        assert second.returncode == 0, (free, first.stderr[-2000:], second.stderr[-2000:])
        # Resumed books equal the venue's own record, and nothing went out twice. (Not the
        # uninterrupted run's ledger: the book's depth and queues are not journaled, so a
        # resumed day can trade differently from one that never stopped — docs/simulator.md.)
        rows = ledger(db)
        booked = [str(r["fill_id"]) for r in rows]
        assert len(booked) == len(set(booked)), free
        assert sorted(booked) == sorted(venue_fills(db)), free
        orders = venue_orders(db)
        assert len(orders) == len(set(orders)), free
        for f in db.parent.iterdir():  # the books, the venue journal, the run's log folder
            if f.is_dir():
                shutil.rmtree(f)
            else:
                f.unlink()
    # the sweep must actually have run out of disk at (nearly) every point
    assert stopped >= len(FREE_KB) - 1, stopped
