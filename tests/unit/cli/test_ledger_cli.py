"""``qts ledger --format csv``: one header, whether the ledger has rows or not (a script that
reads the columns by name must not break on an empty day)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from qts.cli.main import build_app
from qts.data.ports import RunMeta
from qts.data.sqlite import SqliteStore
from qts.model.account import Account
from qts.model.enums import OrderSide, OrderType
from qts.model.fill import Fill
from qts.model.order import Order

T0 = datetime(2026, 3, 3, 0, 5, tzinfo=UTC)


def header_and_rows(db: Path) -> tuple[list[str], list[dict[str, str]]]:
    out = CliRunner().invoke(build_app(), ["ledger", "--db", str(db)])
    assert out.exit_code == 0, out.output
    reader = csv.DictReader(io.StringIO(out.stdout))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_the_header_is_the_same_with_and_without_rows(tmp_path: Path) -> None:
    db = tmp_path / "books.sqlite"
    store = SqliteStore(str(db))
    store.init_run(RunMeta("r", "paper", 10_000_000, T0))
    store.close()
    empty_header, rows = header_and_rows(db)
    assert rows == []
    order = Order("c-1", "005930", OrderSide.BUY, OrderType.MARKET, 3, T0)
    order.submit("V-1", T0)
    fill = Fill("f-1", "c-1", "005930", OrderSide.BUY, 3, 70_000, T0)
    order.apply_fill(fill.fill_id, fill.qty, fill.price, T0)
    account = Account(10_000_000)
    entry = account.apply_fill(fill, date(2026, 3, 5))
    store = SqliteStore(str(db))
    store.save_order(order)
    store.record_fill(
        fill, entry, order, account.positions["005930"], account.cash, dict(account.pending)
    )
    store.close()
    header, rows = header_and_rows(db)
    assert len(rows) == 1 and rows[0]["symbol"] == "005930"
    assert header == empty_header
