"""Account and ledger: every fill must reconcile to the won, settlement must add up."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qts.model.account import Account
from qts.model.enums import OrderSide, Track
from qts.model.fill import Fill
from qts.model.ledger import Ledger, LedgerEntry

SYMBOLS = ("005930", "000660", "0080G0")
DAY0 = date(2024, 3, 4)
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def ts_of(day: date, n: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0) + timedelta(seconds=n)


def make_fill(
    n: int,
    symbol: str,
    side: OrderSide,
    qty: int,
    price: int,
    commission: int = 0,
    tax: int = 0,
    day: date = DAY0,
) -> Fill:
    return Fill(f"F{n}", f"C{n}", symbol, side, qty, price, ts_of(day, n), commission, tax)


def state(account: Account) -> tuple[Any, ...]:
    """Everything a booking may touch, deep-copied for later comparison."""
    return (
        account.cash,
        dict(account.pending),
        copy.deepcopy(account.positions),
        list(account.ledger.entries),
        account.reserved,
        account.initial_cash,
    )


# --- the property test ------------------------------------------------------------------------


@dataclass
class Model:
    """An independent book: average cost with the floor rule, written from the spec."""

    initial: int
    cash: int = 0
    qty: dict[str, int] = field(default_factory=dict)
    cost: dict[str, int] = field(default_factory=dict)
    realized: int = 0  # gross: proceeds minus cost removed
    commission: int = 0
    tax: int = 0
    buy_fees: int = 0
    pending: dict[date, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cash = self.initial

    def book(self, f: Fill, settle: date) -> tuple[int, int]:
        """Returns (net cash effect, realized of this fill net of its fees)."""
        q = self.qty.get(f.symbol, 0)
        c = self.cost.get(f.symbol, 0)
        self.commission += f.commission
        self.tax += f.tax
        if f.side is BUY:
            net = -(f.qty * f.price) - f.commission - f.tax
            self.qty[f.symbol] = q + f.qty
            self.cost[f.symbol] = c + f.qty * f.price
            self.buy_fees += f.commission + f.tax
            pnl = 0
        else:
            net = f.qty * f.price - f.commission - f.tax
            removed = c if f.qty == q else (c * f.qty) // q
            self.qty[f.symbol] = q - f.qty
            self.cost[f.symbol] = c - removed
            gross = f.qty * f.price - removed
            self.realized += gross
            pnl = gross - f.commission - f.tax
        self.cash += net
        self.pending[settle] = self.pending.get(settle, 0) + net
        return net, pnl

    def settle(self, today: date) -> int:
        due = [d for d in self.pending if d <= today]
        return sum(self.pending.pop(d) for d in due)


op_strategy = st.tuples(
    st.sampled_from(SYMBOLS),
    st.booleans(),  # True: buy
    st.integers(1, 1_000),  # buy: shares; sell: per-mille of the holding
    st.integers(1, 2_000_000),  # price
    st.integers(0, 100_000),  # commission
    st.integers(0, 100_000),  # tax
    st.integers(0, 3),  # calendar days since the previous fill
    st.integers(0, 9),  # 0: try to sell more than held (must be refused)
)


def check_books(account: Account, model: Model, fills: list[Fill]) -> None:
    # the account's own check
    assert account.reconcile() == []
    # positions as the model holds them
    for sym in SYMBOLS:
        assert account.held_qty(sym) == model.qty.get(sym, 0)
        pos = account.positions.get(sym)
        assert (pos.cost_basis if pos else 0) == model.cost.get(sym, 0)
    # cash: initial plus every signed cash effect in the ledger, and as the model computes it
    entries = account.ledger.entries
    assert account.cash == account.initial_cash + sum(e.net_amount for e in entries)
    assert account.cash == model.cash
    # cash + positions at cost = initial + realized - commissions - taxes, to the won
    commissions = sum(f.commission for f in fills)
    taxes = sum(f.tax for f in fills)
    at_cost = sum(p.cost_basis for p in account.positions.values())
    realized = sum(p.realized_pnl for p in account.positions.values())
    assert account.cash + at_cost == account.initial_cash + realized - commissions - taxes
    assert realized == model.realized
    assert model.cash + sum(model.cost.values()) == (
        model.initial + model.realized - model.commission - model.tax
    )
    # the ledger: one row per fill, seq 1, 2, 3, ...
    assert [e.seq for e in entries] == list(range(1, len(fills) + 1))
    assert [e.fill_id for e in entries] == [f.fill_id for f in fills]
    assert account.ledger.next_seq == len(fills) + 1
    assert account.ledger.total_fees() == commissions + taxes
    # ledger pnl is realized net of the sell's own fees; buy fees are only in cash
    assert sum(e.pnl for e in entries) == realized - sum(
        f.commission + f.tax for f in fills if f.side is SELL
    )
    # settlement: what settled plus what is pending is the cash
    assert account.settled_cash + sum(account.pending.values()) == account.cash
    assert account.pending == {d: v for d, v in model.pending.items()}


@settings(max_examples=200, deadline=None)
@given(
    initial=st.integers(0, 10**12),
    ops=st.lists(op_strategy, max_size=40),
    liquidation=st.tuples(
        st.lists(st.integers(1, 2_000_000), min_size=3, max_size=3),
        st.lists(st.integers(0, 100_000), min_size=3, max_size=3),
    ),
)
def test_any_fill_sequence_reconciles_to_the_won(
    initial: int,
    ops: list[tuple[str, bool, int, int, int, int, int, int]],
    liquidation: tuple[list[int], list[int]],
) -> None:
    account = Account(initial)
    model = Model(initial)
    fills: list[Fill] = []
    today = DAY0
    n = 0
    for sym, is_buy, size, price, commission, tax, advance, oversell in ops:
        today += timedelta(days=advance)
        settle_on = today + timedelta(days=2)  # T+2 (calendar days will do here)
        n += 1
        held = account.held_qty(sym)
        if is_buy:
            fill = make_fill(n, sym, BUY, size, price, commission, tax, today)
        elif held == 0 or oversell == 0:
            # a sell the account cannot cover: refused, and nothing changes
            bad = make_fill(n, sym, SELL, held + size, price, commission, tax, today)
            before = state(account)
            with pytest.raises(ValueError, match="holds"):
                account.apply_fill(bad, settle_on)
            assert state(account) == before
            continue
        else:
            fill = make_fill(
                n, sym, SELL, max(1, held * size // 1_000), price, commission, tax, today
            )

        net, pnl = model.book(fill, settle_on)
        entry = account.apply_fill(fill, settle_on, strategy="prop")
        fills.append(fill)
        assert entry.net_amount == net
        assert entry.pnl == pnl
        assert entry.amount == fill.qty * fill.price
        assert entry.position_after == model.qty[sym]
        assert entry.settle_date == settle_on.isoformat()
        assert entry.seq == len(fills)
        assert account.ledger.entries[-1] is entry

        # settle what is due today; the amount must match the model
        assert account.settle(today) == model.settle(today)
        assert all(d > today for d in account.pending)
        check_books(account, model, fills)
        # settled cash is the initial cash plus every booking due by today
        assert account.settled_cash == initial + sum(
            e.net_amount for e in account.ledger.entries if e.settle_date <= today.isoformat()
        )

    # refused fills never left empty positions behind
    assert set(account.positions) == {f.symbol for f in fills}

    # --- final liquidation at given prices ---
    prices, fees = liquidation
    for sym, px in zip(SYMBOLS, prices, strict=True):
        if sym in account.positions:
            account.positions[sym].mark(px)
    holdings = {p.symbol: p.qty for p in account.open_positions()}
    px_of = dict(zip(SYMBOLS, prices, strict=True))
    fee_of = dict(zip(SYMBOLS, fees, strict=True))
    at_cost = account.cost_of_positions
    realized = sum(p.realized_pnl for p in account.positions.values())
    paid_fees = sum(f.fees for f in fills)
    equity_before = account.equity
    assert equity_before == account.cash + sum(q * px_of[s] for s, q in holdings.items())
    unrealized = sum(q * px_of[s] for s, q in holdings.items()) - at_cost
    assert unrealized == sum(p.unrealized_pnl for p in account.positions.values())
    assert equity_before == initial + realized + unrealized - paid_fees

    today += timedelta(days=1)
    for sym, qty in holdings.items():
        n += 1
        fill = make_fill(n, sym, SELL, qty, px_of[sym], commission=fee_of[sym], day=today)
        model.book(fill, today + timedelta(days=2))
        account.apply_fill(fill, today + timedelta(days=2))
        fills.append(fill)
        check_books(account, model, fills)

    liquidation_fees = sum(fee_of[s] for s in holdings)
    assert account.open_positions() == []
    assert account.cost_of_positions == 0
    assert account.market_value == 0
    assert account.equity == account.cash == equity_before - liquidation_fees
    total_realized = sum(p.realized_pnl for p in account.positions.values())
    all_fees = sum(f.fees for f in fills)
    assert account.cash == initial + total_realized - all_fees
    # flat: the ledger's net pnl less the fees paid on buys is the whole change in cash
    buy_fees = sum(f.fees for f in fills if f.side is BUY)
    assert sum(e.pnl for e in account.ledger.entries) - buy_fees == account.cash - initial

    # --- settle everything ---
    outstanding = sum(account.pending.values())
    assert account.settle(today + timedelta(days=30)) == outstanding
    assert account.pending == {}
    assert account.settled_cash == account.cash
    assert account.reconcile() == []


# --- refused fills ----------------------------------------------------------------------------


def test_sell_of_a_symbol_never_held_changes_nothing() -> None:
    account = Account(1_000_000)
    account.apply_fill(make_fill(1, "005930", BUY, 10, 70_000, 15), DAY0 + timedelta(days=2))
    before = state(account)
    with pytest.raises(ValueError, match="holds 0"):
        account.apply_fill(make_fill(2, "000660", SELL, 1, 100_000), DAY0 + timedelta(days=2))
    assert state(account) == before
    assert "000660" not in account.positions  # no empty Position left behind
    assert account.reconcile() == []


def test_sell_exceeding_the_holding_changes_nothing() -> None:
    account = Account(1_000_000)
    settle = DAY0 + timedelta(days=2)
    account.apply_fill(make_fill(1, "005930", BUY, 10, 70_000, 15), settle)
    account.apply_fill(make_fill(2, "005930", SELL, 4, 71_000, 10, 163), settle)
    before = state(account)
    cash, ledger_len = account.cash, len(account.ledger)
    with pytest.raises(ValueError, match="sells 7 005930, account holds 6"):
        account.apply_fill(make_fill(3, "005930", SELL, 7, 72_000), settle)
    assert state(account) == before
    assert (account.cash, len(account.ledger)) == (cash, ledger_len)
    assert account.held_qty("005930") == 6
    # the exact holding is fine
    account.apply_fill(make_fill(4, "005930", SELL, 6, 72_000), settle)
    assert account.held_qty("005930") == 0
    assert account.reconcile() == []


def test_sell_after_a_full_close_is_refused() -> None:
    account = Account(1_000_000)
    account.apply_fill(make_fill(1, "005930", BUY, 1, 70_000), DAY0)
    account.apply_fill(make_fill(2, "005930", SELL, 1, 70_000), DAY0)
    before = state(account)
    with pytest.raises(ValueError):
        account.apply_fill(make_fill(3, "005930", SELL, 1, 70_000), DAY0)
    assert state(account) == before


# --- worked example ---------------------------------------------------------------------------


def test_worked_example_to_the_won() -> None:
    account = Account(10_000_000)
    t2 = DAY0 + timedelta(days=2)
    e1 = account.apply_fill(
        make_fill(1, "005930", BUY, 100, 70_000, commission=1_050), t2, strategy="s"
    )
    assert e1.net_amount == -7_001_050
    assert account.cash == 2_998_950
    # the purchase has not settled yet: the money is still in the account
    assert account.settled_cash == 10_000_000
    e2 = account.apply_fill(make_fill(2, "005930", SELL, 30, 71_000, 319, 4_260), t2)
    # 30 of 100 shares carry 7_000_000 * 30 // 100 = 2_100_000 of cost
    assert e2.pnl == 2_130_000 - 2_100_000 - 319 - 4_260
    assert e2.net_amount == 2_130_000 - 319 - 4_260
    assert e2.position_after == 70
    assert e2.strategy == "s"  # inherited from the position
    pos = account.positions["005930"]
    assert (pos.qty, pos.cost_basis, pos.realized_pnl) == (70, 4_900_000, 30_000)
    assert account.cash == 10_000_000 - 7_001_050 + 2_125_421
    assert account.cash + pos.cost_basis == 10_000_000 + 30_000 - (1_050 + 319 + 4_260)
    assert account.pending == {t2: -7_001_050 + 2_125_421}
    assert account.settle(DAY0 + timedelta(days=1)) == 0
    assert account.settle(t2) == -7_001_050 + 2_125_421
    assert account.settle(t2) == 0
    assert account.settled_cash == account.cash
    assert account.reconcile() == []
    row = e2.as_row()
    assert row["side"] == "SELL"
    assert row["ts"] == e2.ts.isoformat()
    assert row["settle_date"] == t2.isoformat()


def test_settle_only_what_is_due() -> None:
    account = Account(5_000_000)
    d1, d2, d3 = (DAY0 + timedelta(days=k) for k in (2, 3, 4))
    account.apply_fill(make_fill(1, "005930", BUY, 10, 100_000), d1)
    account.apply_fill(make_fill(2, "005930", SELL, 5, 110_000), d2)
    account.apply_fill(make_fill(3, "000660", BUY, 1, 200_000, 30), d3)
    assert account.settled_cash == 5_000_000
    assert account.settle(d2) == -1_000_000 + 550_000
    assert account.pending == {d3: -200_030}
    assert account.settled_cash == 5_000_000 - 450_000
    assert account.settled_cash + sum(account.pending.values()) == account.cash


def test_buying_power_subtracts_reservations() -> None:
    account = Account(1_000_000)
    account.reserved = 300_000
    assert account.buying_power == 700_000
    assert account.equity == 1_000_000


def test_negative_initial_cash_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Account(-1)
    assert Account(0).cash == 0


# --- reconcile can fail -----------------------------------------------------------------------


def booked_account() -> Account:
    account = Account(10_000_000)
    account.apply_fill(make_fill(1, "005930", BUY, 10, 70_000, 100), DAY0)
    account.apply_fill(make_fill(2, "000660", BUY, 5, 150_000, 100), DAY0)
    account.apply_fill(make_fill(3, "005930", SELL, 3, 72_000, 50, 400), DAY0)
    assert account.reconcile() == []
    return account


def test_reconcile_catches_a_cash_error_of_one_won() -> None:
    account = booked_account()
    account.cash += 1
    problems = account.reconcile()
    assert any("ledger net" in p for p in problems)
    assert any("positions at cost" in p for p in problems)


def test_reconcile_catches_a_cost_error_of_one_won() -> None:
    account = booked_account()
    account.positions["000660"].cost_basis -= 1
    assert [p for p in account.reconcile() if "positions at cost" in p]


def test_reconcile_catches_a_quantity_mismatch() -> None:
    account = booked_account()
    account.positions["005930"].qty += 1
    assert account.reconcile() == ["005930: position 8 != ledger quantity 7"]


def test_reconcile_catches_a_position_that_went_missing() -> None:
    account = booked_account()
    del account.positions["000660"]
    problems = account.reconcile()
    assert "000660: position 0 != ledger quantity 5" in problems


# --- the ledger -------------------------------------------------------------------------------


def entry(seq: int) -> LedgerEntry:
    return LedgerEntry(
        seq=seq,
        ts=ts_of(DAY0, seq),
        symbol="005930",
        market="KOSPI",
        side=BUY,
        qty=1,
        price=100,
        amount=100,
        commission=1,
        tax=0,
        net_amount=-101,
        client_order_id=f"C{seq}",
        fill_id=f"F{seq}",
        strategy="",
        position_after=seq,
        pnl=0,
        settle_date=DAY0.isoformat(),
    )


def test_ledger_seq_must_follow_by_one() -> None:
    ledger = Ledger()
    assert ledger.next_seq == 1
    ledger.append(entry(1))
    ledger.append(entry(2))
    for bad in (2, 1, 4, 0):
        with pytest.raises(ValueError, match="does not follow"):
            ledger.append(entry(bad))
    assert len(ledger) == 2
    assert ledger.next_seq == 3
    assert ledger.net_cash_flow() == -202
    assert ledger.total_fees() == 2


def test_ledger_loaded_from_rows_is_checked_too() -> None:
    assert Ledger([entry(5), entry(6)]).next_seq == 7  # a tail of a longer ledger is fine
    with pytest.raises(ValueError, match="does not follow"):
        Ledger([entry(1), entry(3)])
    rows = [entry(1), entry(2)]
    ledger = Ledger(rows)
    ledger.append(entry(3))
    assert len(rows) == 2  # the caller's list is not aliased


def test_account_continues_a_loaded_ledger() -> None:
    account = Account(1_000, cash=1_000 - 101, ledger=Ledger([entry(1)]))
    account.positions["005930"] = account.position("005930")
    account.positions["005930"].buy(1, 100, ts_of(DAY0), Track.SWING, "")
    assert account.reconcile() == []
    e = account.apply_fill(make_fill(9, "005930", SELL, 1, 120), DAY0)
    assert e.seq == 2
    assert account.reconcile() == []
