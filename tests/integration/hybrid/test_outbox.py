"""The outbox file: ordered pending ops per target, cursors, batches, detaching, pruning, and
what survives reopening."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest
from storage_helpers import T0

from qts.core.errors import StorageError
from qts.data.hybrid import Outbox
from qts.data.hybrid.codec import encode_op
from qts.data.hybrid.outbox import marker, marker_seq


def op(n: int) -> str:
    return encode_op("save_state", {"key": f"k{n}", "value": {"n": n}})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "qts.outbox"


def test_ops_are_pending_per_target_in_order_until_the_cursor_passes_them(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["sheets", "db"])
        assert box.caught_up("sheets") and box.pending("db") == []
        assert box.append([op(1)], ["sheets", "db"]) == (1, 1)
        assert box.append([op(2), op(3)], ["sheets", "db"]) == (2, 3)
        pending = box.pending("db")
        assert [(e.seq, e.batch) for e in pending] == [(1, 1), (2, 2), (3, 2)]
        assert [e.payload for e in pending] == [op(1), op(2), op(3)]
        box.advance("db", 2)
        assert [e.seq for e in box.pending("db")] == [3]
        box.advance("db", 1)  # never moves back
        assert box.cursor("db") == 2 and box.pending_count("db") == 1
        box.advance("db", 3)
        assert box.caught_up("db") and box.pending_count("db") == 0
        assert box.pending_count("sheets") == 3


def test_a_page_of_pending_ops_never_cuts_a_batch(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["db"])
        box.append([op(1)], ["db"])
        box.append([op(n) for n in range(2, 7)], ["db"])
        box.append([op(7)], ["db"])
        assert [e.seq for e in box.pending("db", limit=2)] == [1, 2, 3, 4, 5, 6]
        assert [e.seq for e in box.pending("db", limit=1)] == [1]


def test_cursors_heads_and_ops_survive_reopening(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["sheets", "db"])
        box.append([op(1), op(2)], ["sheets", "db"], state_keys=["k1", "k2"])
        box.advance("sheets", 2)
        box.advance("db", 1)
        outbox_id = box.id
    with Outbox(path) as box:
        assert box.id == outbox_id
        assert box.cursor("sheets") == 2 and box.cursor("db") == 1
        assert box.caught_up("sheets") and not box.caught_up("db")
        assert [e.seq for e in box.pending("db")] == [2]
        assert box.state_keys() == ["k1", "k2"]
        assert not box.verified("db")  # a reopened outbox trusts no cursor until a marker read
        assert box.append([op(3)], ["sheets", "db"]) == (3, 3)  # seqs are never reused


def test_a_marker_moves_the_cursor_forward_only_if_it_is_this_outboxs(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["db"])
        box.append([op(1), op(2), op(3)], ["db"])
        box.verify({"outbox": "someone-else", "seq": 3}, "db")
        assert box.cursor("db") == 0 and box.verified("db")
        box.verify(marker(box.id, 2), "db")
        assert box.cursor("db") == 2
        box.verify(None, "db")
        assert box.cursor("db") == 2
        assert marker_seq(marker(box.id, 5), box.id) == 5
        assert marker_seq({"outbox": box.id, "seq": "5"}, box.id) == 0


def test_a_target_left_out_is_detached_until_reattached(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["sheets", "db"])
        box.append([op(1)], ["sheets", "db"])
        box.append([op(2)], ["sheets"])  # e.g. SHEETS_ONLY after a rollback
        assert box.detached("db") and not box.caught_up("db")
        assert [e.seq for e in box.pending("db")] == [1]  # stale, never replayed
    with Outbox(path) as box:
        assert box.detached("db")
        box.reattach("db")  # after the operator re-synced it
        assert not box.detached("db") and box.caught_up("db") and box.pending("db") == []
        box.append([op(3)], ["sheets", "db"])
        assert [e.seq for e in box.pending("db")] == [3]


def test_fully_applied_ops_are_pruned_and_pending_ones_are_kept(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["sheets", "db"])
        for n in range(1, 11):
            box.append([op(n)], ["sheets", "db"])
        box.advance("sheets", 10)
        box.advance("db", 4)
        box.sync()
        assert box.size() == 6
        assert [e.seq for e in box.pending("db")] == [5, 6, 7, 8, 9, 10]
        box.advance("db", 10)
        box.sync()
        assert box.size() == 0 and box.caught_up("db")
    with Outbox(path) as box:
        assert box.caught_up("db") and box.head("db") == 10


def test_the_file_is_durable_sqlite_in_wal_mode(path: Path) -> None:
    Outbox(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_misuse_is_refused(path: Path) -> None:
    box = Outbox(path)
    box.register(["db"])
    with pytest.raises(StorageError, match="unknown target"):
        box.append([op(1)], ["nowhere"])
    with pytest.raises(StorageError, match="empty batch"):
        box.append([], ["db"])
    box.close()
    box.close()
    with pytest.raises(StorageError, match="closed"):
        box.append([op(1)], ["db"])


def test_check_days_accumulate_and_one_unclean_check_spoils_the_day(path: Path) -> None:
    with Outbox(path) as box:
        day = date(2024, 1, 2)
        assert box.record_check(day, T0, 0, 0).clean
        spoilt = box.record_check(day, T0, 2, 0)
        assert not spoilt.clean and spoilt.checks == 2 and spoilt.differences == 2
        assert not box.record_check(day, T0, 0, 0).clean
        assert [d.day for d in box.check_days()] == [day]


def test_waiting_for_a_target_to_catch_up_wakes_on_the_cursor_not_on_time(path: Path) -> None:
    with Outbox(path) as box:
        box.register(["db"])
        box.append([op(1)], ["db"])
        assert not box.wait_caught_up("db", timeout=0)
        started = threading.Event()

        def catch_up() -> None:
            started.set()
            box.advance("db", 1)

        worker = threading.Thread(target=catch_up)
        worker.start()
        started.wait()
        assert box.wait_caught_up("db", timeout=30)
        worker.join()
